"""Discriminator heads by model name: what turns the encoder's output into D's output.

A model of this code base is its head (the networks, data and step are shared): the head
owns its non-gradient state (the memory for MemoryGAN; none for DCGAN), its conditioning of
the generator, the pieces it adds to the D and G losses, and its update after the D step.
The step builder (:func:`mgan_jax.train.training.make_train_step`) is one function over any head:
``d_update -> head.update -> g_update``, with no per-model branches.

``config.model.kind`` names the head; :func:`make_head` builds it.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Protocol

import jax

from mgan_jax.gans import losses
from mgan_jax.gans import base, dcgan, improved, madgan, memorygan, semisup  # noqa: F401


class Head(Protocol):
  """The interface every head implements (see the module docstring)."""

  def validate(self, config, num_replicas: int) -> None:
    """Refuses, before anything compiles, a config this head cannot train."""

  def cond_dim(self) -> int:
    """Dimensions the head appends to z as the generator's input."""

  def num_logits(self) -> int:
    """The size of the discriminator's trainable output layer on the features (0: none)."""

  def needs_labels(self) -> bool:
    """Whether the step gets a labelled batch; such a head also has ``labelled_loss(logits,
    labels) -> (loss, metrics)``, added to D's loss."""

  def init_state(self, rng: jax.Array) -> Any:
    """The head's non-gradient state (None when it has none)."""

  def condition(self, state, rng: jax.Array, num: int) -> Optional[jax.Array]:
    """The generator's conditioning for ``num`` samples of the global batch, or None."""

  def d_outputs(self, state, features, logits) -> tuple[losses.DOutput, Any]:
    """D's output on a batch (its rows: the real then the fake images in the D step) and
    what :meth:`update` needs of it."""

  def penalty(self, state, features_fake, cond, network: str) -> jax.Array:
    """A term added to the D (``network`` 'd') or the G loss ('g'), on the fake images
    generated with ``cond`` from the head's ``state`` (0 when none)."""

  def update(self, state, aux, num_groups: int) -> tuple[Any, dict]:
    """The head's state after a D step (``aux`` from :meth:`d_outputs`) and its metrics."""

  def output_metrics(self, aux) -> dict:
    """Metrics of the G step's output (``aux`` from :meth:`d_outputs`)."""

  # With defaults in :class:`mgan_jax.gans.base.BinaryHead` (the binary GAN, one generator):
  def discriminator_loss(self, real, fake, aux, kind: str, real_target: float) -> jax.Array:
    """D's adversarial loss on its real and fake rows."""

  def generator_extra(self, fake, aux, phi) -> tuple[jax.Array, dict]:
    """A term added to G's loss only (MAD-GAN-Sim's), and its metrics."""

  def similarity_layer(self) -> Optional[str]:
    """The layer :meth:`generator_extra` needs as ``phi`` (None: none)."""

  def num_generators(self) -> int:
    """Generators stacked on a leading axis; row r is generator r mod this."""

  def rows_per_z(self) -> int:
    """Consecutive generated rows that share one z."""


HEADS: dict[str, Callable[..., Head]] = {
    'dcgan': dcgan.LogitHead,
    'madgan': madgan.MultiGeneratorHead,
    'memory': memorygan.MemoryHead,
    'semisup': semisup.ClassifierHead,
}


def make_head(config, axis_name: Optional[str] = None, sharded: bool = False) -> Head:
  """The head of ``config.model.kind``; an unknown kind lists the known ones."""
  kind = config.model.kind
  if kind not in HEADS:
    raise ValueError(f'unknown model.kind {kind!r}; known: {sorted(HEADS)}')
  return HEADS[kind].from_config(config, axis_name, sharded)
