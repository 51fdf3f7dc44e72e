"""What most heads share: no state, no conditioning, nothing added to both losses, the
binary GAN objectives on D(x) = p(real | x), one generator, one z per generated row. A head
that differs (MemoryGAN's memory, MAD-GAN's (k+1)-way discriminator and k generators)
overrides these methods; the step calls them on every head."""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp

from mgan_jax.gans import improved, losses


class BinaryHead:
  """Defaults of the :class:`mgan_jax.gans.Head` methods that only some heads change."""

  def cond_dim(self) -> int:
    return 0

  def needs_labels(self) -> bool:
    return False

  def init_state(self, rng):
    del rng
    return None

  def condition(self, state, rng, num):
    del state, rng, num
    return None

  def penalty(self, state, features_fake, cond, network) -> jax.Array:
    del state, features_fake, cond, network
    return jnp.zeros((), jnp.float32)

  def update(self, state, aux, num_groups):
    del aux, num_groups
    return state, {}

  def output_metrics(self, aux) -> dict:
    del aux
    return {}

  def discriminator_loss(self, real: losses.DOutput, fake: losses.DOutput, aux, kind: str,
                         real_target: float) -> jax.Array:
    """D's adversarial loss on the real and the fake rows (``aux`` from ``d_outputs`` over
    both): the chosen loss, with one-sided label smoothing when ``real_target`` < 1."""
    del aux
    return improved.smoothed_d_loss(real, fake, kind, real_target)

  def generator_extra(self, fake: losses.DOutput, aux, phi) -> tuple[jax.Array, dict]:
    """A term added to G's loss only, and its metrics (``phi``: the G step's fakes at
    :meth:`similarity_layer`, None when the head names none)."""
    del fake, aux, phi
    return jnp.zeros((), jnp.float32), {}

  def similarity_layer(self) -> Optional[str]:
    """The layer whose output :meth:`generator_extra` needs (a D layer name, or
    ``'generator'`` for G's output), or None."""
    return None

  def num_generators(self) -> int:
    """Generators whose parameters are stacked on a leading axis (row r of a generated
    batch comes from generator r % num_generators)."""
    return 1

  def rows_per_z(self) -> int:
    """How many consecutive generated rows share one z (1: every row its own)."""
    return 1
