r"""Trains the feature classifier of the evaluation (mgan_jax.classifier) and saves it.

    python -m experiments.train_classifier --dataset=fashion

Fashion-MNIST from Debian's package; 8 epochs of Adam(1e-3, cosine) at batch 128 with random
horizontal flips. Prints the test accuracy and writes mgan_jax/assets/fashion_classifier.msgpack
(committed, ~0.6 MB). The accuracy reached is recorded in WORKSPACE.md.
"""

import json
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np
import optax

from mgan_jax import classifier
from mgan_jax import data

_DATASET = flags.DEFINE_enum('dataset', 'fashion', ['fashion'], 'Training data.')
_EPOCHS = flags.DEFINE_integer('epochs', 8, 'Epochs.')
_BATCH = flags.DEFINE_integer('batch', 128, 'Batch size.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed.')
_OUT = flags.DEFINE_string('out', None, 'Output path (default: the package asset).')


def main(argv):
  del argv
  train_x, train_y = data.load_debian_fashion('train')
  test_x, test_y = data.load_debian_fashion('test')
  train_x = train_x.astype(np.float32) / 255.0
  test_x = test_x.astype(np.float32) / 255.0
  model = classifier.Classifier(train=True)
  rng = jax.random.PRNGKey(_SEED.value)
  variables = classifier.init_variables(rng)
  params, stats = variables['params'], variables['batch_stats']
  steps_per_epoch = len(train_x) // _BATCH.value
  tx = optax.adam(optax.cosine_decay_schedule(1e-3, _EPOCHS.value * steps_per_epoch))
  opt = tx.init(params)

  @jax.jit
  def step(params, stats, opt, x, y, key):
    flip = jax.random.bernoulli(key, 0.5, (x.shape[0],))
    x = jnp.where(flip[:, None, None, None], x[:, :, ::-1], x)

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
  for epoch in range(_EPOCHS.value):
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
    json.dump({'dataset': _DATASET.value, 'test_accuracy': accuracy, 'epochs': _EPOCHS.value,
               'seed': _SEED.value, 'seconds': round(time.time() - t0)}, f, indent=2)
  print(f'test accuracy {accuracy:.4f}; wrote {path}')


if __name__ == '__main__':
  app.run(main)
