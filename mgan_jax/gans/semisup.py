"""The semi-supervised K+1-class discriminator (Salimans et al. 2016, section 5; SPEC 7).

The discriminator's output layer gives K class logits ``l_1 .. l_K``; the fake class is the
implicit (K+1)-th, its logit fixed at 0. With ``Z(x) = sum_k exp(l_k(x))``:

    p(y = k | x)       = exp(l_k) / (Z + 1)          (k <= K)
    p(y = K+1 | x)     = 1 / (Z + 1)                 (fake)
    D(x) = 1 - p(y = K+1 | x) = Z / (Z + 1) = sigmoid(logsumexp_k l_k)

so the unsupervised loss of the seed note's equation (6),
``-E_x log D(x) - E_z log(1 - D(G(z)))``, is the usual GAN loss on the logit
``logsumexp_k l_k`` (:meth:`ClassifierHead.d_outputs`), and the supervised loss on the
labelled examples is the cross-entropy ``-E log p(y | x, y <= K)`` =
``-E log softmax(l)_y`` (:func:`supervised_loss`). The generator is trained with feature
matching (``config.improved.feature_matching``), as in the paper.

``semisup.unsupervised_weight = 0`` is the supervised-only baseline: the same
discriminator, labelled examples, augmentation and steps, without the unlabelled and
generated images in its loss.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from mgan_jax.gans import base, losses


def defaults() -> dict:
  """The fields of ``config.semisup`` (experiments/configs/base.py documents them)."""
  return dict(num_classes=10, labels_per_class=10, label_seed=0, labelled_batch=64,
              unsupervised_weight=1.0, supervised_weight=1.0)


def unsupervised_logit(logits: jax.Array) -> jax.Array:
  """``logit D(x) = log Z(x) = logsumexp_k l_k(x)`` for [B, K] class logits."""
  return jax.nn.logsumexp(logits, axis=-1)


def supervised_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """``-mean log softmax(l)_y``: the K-class cross-entropy (the fake class excluded)."""
  log_p = jax.nn.log_softmax(logits, axis=-1)
  return -jnp.mean(jnp.take_along_axis(log_p, labels[:, None].astype(jnp.int32), axis=-1))


def error_rate(logits: jax.Array, labels: jax.Array) -> jax.Array:
  return jnp.mean((jnp.argmax(logits, axis=-1) != labels).astype(jnp.float32))


@dataclasses.dataclass(frozen=True)
class ClassifierHead(base.BinaryHead):
  """K class logits; D(x) = Z / (Z + 1) (see the module docstring)."""

  num_classes: int
  unsupervised_weight: float
  supervised_weight: float

  @classmethod
  def from_config(cls, config, axis_name=None, sharded=False):
    del axis_name
    if sharded:
      raise ValueError('memory_sharded=True needs a memory: model.kind=semisup has none')
    semi = config.get('semisup')
    if semi is None:
      raise ValueError('model.kind=semisup needs a config.semisup section (see '
                       'experiments/configs/fashion_semisup.py)')
    return cls(num_classes=semi.num_classes, unsupervised_weight=semi.unsupervised_weight,
               supervised_weight=semi.supervised_weight)

  def validate(self, config, num_replicas):
    semi = config.semisup
    if self.num_classes < 2:
      raise ValueError(f'semisup.num_classes must be at least 2, got {self.num_classes}')
    if semi.labels_per_class < 1:
      raise ValueError(f'semisup.labels_per_class must be at least 1, got '
                       f'{semi.labels_per_class}')
    if semi.labelled_batch < 1 or semi.labelled_batch % num_replicas:
      raise ValueError(f'semisup.labelled_batch={semi.labelled_batch} does not split over '
                       f'{num_replicas} devices; use a multiple of {num_replicas}')
    if semi.labelled_batch > semi.labels_per_class * self.num_classes:
      raise ValueError(f'semisup.labelled_batch={semi.labelled_batch} is more than the '
                       f'{semi.labels_per_class * self.num_classes} labelled examples')
    if self.unsupervised_weight < 0 or self.supervised_weight <= 0:
      raise ValueError('semisup.unsupervised_weight must be 0 or more and '
                       'semisup.supervised_weight more than 0')
    if config.loss == 'updown':
      raise ValueError('model.kind=semisup needs a cross-entropy loss (jsd, alternative or '
                       'reverse_kl), not updown')

  def num_logits(self):
    return self.num_classes

  def needs_labels(self):
    return True

  def d_outputs(self, state, features, logits):
    del state, features
    return losses.from_logit(unsupervised_logit(logits)), None

  def labelled_loss(self, logits, labels):
    """The supervised part of D's loss and its metrics, on the labelled batch."""
    return self.supervised_weight * supervised_loss(logits, labels), {
        'semisup/train_error': error_rate(logits, labels)}
