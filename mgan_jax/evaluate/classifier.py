"""A small CNN classifier for 28x28 grey images: the feature network for Fashion-MNIST and
MNIST evaluation (issue 4: FID/KID/precision-recall on its penultimate layer, the classifier
score on its softmax).

``python -m experiments.train_classifier --dataset=fashion`` trains it and writes
``mgan_jax/evaluate/assets/<dataset>_classifier.msgpack``; :func:`load` reads it back.
"""

import functools
import os
from typing import Optional

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'assets')
FEATURE_DIM = 128


class Classifier(nn.Module):
  """(conv3x3-BN-ReLU) 32 x2, pool, 64 x2, pool, 128, global average, dense 128 (the
  features), dense 10.

  Input: [B, 28, 28, 1] in [0, 1]. Returns ``(logits [B, 10], features [B, 128])``; batch
  norm uses batch statistics when ``train`` and the running averages otherwise.
  """

  num_classes: int = 10
  train: bool = False

  @nn.compact
  def __call__(self, x):
    def conv(x, features):
      x = nn.Conv(features, (3, 3), use_bias=False)(x)
      return nn.relu(nn.BatchNorm(use_running_average=not self.train, momentum=0.9)(x))
    for features in (32, 64):
      x = nn.max_pool(conv(conv(x, features), features), (2, 2), (2, 2))
    x = jnp.mean(conv(x, 128), axis=(1, 2))
    features = nn.relu(nn.Dense(FEATURE_DIM)(x))
    return nn.Dense(self.num_classes)(features), features


def asset_path(dataset: str) -> str:
  return os.path.join(ASSETS, f'{dataset}_classifier.msgpack')


def init_variables(rng=None):
  return Classifier().init(rng if rng is not None else jax.random.PRNGKey(0),
                           jnp.zeros((1, 28, 28, 1)))


def save(variables, dataset: str, path: Optional[str] = None) -> str:
  """Writes ``{'params', 'batch_stats'}`` as msgpack."""
  path = path or asset_path(dataset)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'wb') as f:
    f.write(flax.serialization.to_bytes(variables))
  return path


def load(dataset: str, path: Optional[str] = None):
  """The trained variables; a clear error if they were never trained for this data set."""
  path = path or asset_path(dataset)
  if not os.path.exists(path):
    raise FileNotFoundError(
        f'No classifier weights at {path}. Train them with `python -m '
        f'experiments.train_classifier --dataset={dataset}` (a few minutes on a CPU).')
  with open(path, 'rb') as f:
    # The target's shapes only: running the initialisation op by op costs ~10 s on a CPU.
    return flax.serialization.from_bytes(jax.eval_shape(init_variables), f.read())


@jax.jit
def _apply(variables, images):
  logits, features = Classifier().apply(variables, images)
  return jax.nn.softmax(logits), features


def make_apply(variables):
  """A jitted ``images [B, 28, 28, 1] in [0, 1] -> (probabilities, features)`` (eval mode).
  The weights are an argument of one module-level compiled function: every caller (the
  evaluator, the trainer's evaluation, the tests) shares its compilations."""
  return functools.partial(_apply, jax.device_put(variables))  # on the device once


def batched(apply, images, batch: int = 500):
  """Runs ``apply`` over ``images`` in batches; returns NumPy (probabilities, features)."""
  import numpy as np
  probs, feats = [], []
  for start in range(0, len(images), batch):
    p, f = apply(jnp.asarray(images[start:start + batch], jnp.float32))
    probs.append(np.asarray(p))
    feats.append(np.asarray(f))
  return np.concatenate(probs), np.concatenate(feats)
