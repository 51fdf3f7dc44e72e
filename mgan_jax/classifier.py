"""A small CNN classifier for 28x28 grey images: the feature network for Fashion-MNIST and
MNIST evaluation (issue 4: FID/KID/precision-recall on its penultimate layer, the classifier
score on its softmax).

``python -m experiments.train_classifier --dataset=fashion`` trains it and writes
``mgan_jax/assets/<dataset>_classifier.msgpack``; :func:`load` reads it back.
"""

import os
from typing import Optional

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'assets')
FEATURE_DIM = 128


class Classifier(nn.Module):
  """conv32 x2, pool, conv64 x2, pool, conv128, global average, dense 128 (features), 10.

  Input: [B, 28, 28, 1] in [0, 1]. Returns ``(logits [B, 10], features [B, 128])``.
  """

  num_classes: int = 10

  @nn.compact
  def __call__(self, x):
    for features in (32, 64):
      x = nn.relu(nn.Conv(features, (3, 3))(x))
      x = nn.relu(nn.Conv(features, (3, 3))(x))
      x = nn.max_pool(x, (2, 2), (2, 2))
    x = nn.relu(nn.Conv(128, (3, 3))(x))
    x = jnp.mean(x, axis=(1, 2))
    features = nn.relu(nn.Dense(FEATURE_DIM)(x))
    return nn.Dense(self.num_classes)(features), features


def asset_path(dataset: str) -> str:
  return os.path.join(ASSETS, f'{dataset}_classifier.msgpack')


def save(params, dataset: str, path: Optional[str] = None) -> str:
  path = path or asset_path(dataset)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'wb') as f:
    f.write(flax.serialization.to_bytes(params))
  return path


def load(dataset: str, path: Optional[str] = None):
  """The trained parameters; a clear error if they were never trained for this data set."""
  path = path or asset_path(dataset)
  if not os.path.exists(path):
    raise FileNotFoundError(
        f'No classifier weights at {path}. Train them with `python -m '
        f'experiments.train_classifier --dataset={dataset}` (a few minutes on a CPU).')
  template = Classifier().init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1)))['params']
  with open(path, 'rb') as f:
    return flax.serialization.from_bytes(template, f.read())


def make_apply(params):
  """A jitted ``images [B, 28, 28, 1] in [0, 1] -> (probabilities, features)``."""
  model = Classifier()

  @jax.jit
  def apply(images):
    logits, features = model.apply({'params': params}, images)
    return jax.nn.softmax(logits), features

  return apply


def batched(apply, images, batch: int = 500):
  """Runs ``apply`` over ``images`` in batches; returns NumPy (probabilities, features)."""
  import numpy as np
  probs, feats = [], []
  for start in range(0, len(images), batch):
    p, f = apply(jnp.asarray(images[start:start + batch], jnp.float32))
    probs.append(np.asarray(p))
    feats.append(np.asarray(f))
  return np.concatenate(probs), np.concatenate(feats)
