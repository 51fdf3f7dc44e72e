"""Adversarial losses with the reference code's names (SPEC section 4).

The discriminator's output on a batch is a :class:`DOutput`: ``p = p(y=1|x)`` with
``log p`` and ``log(1 - p)``. MemoryGAN's memory gives ``p`` directly, clipped to
[1e-3, 1 - 1e-3] before the log as in the reference code; the memory-free DCGAN baseline
gives a logit, whose log-sigmoids need no clipping.

With ``loss_real = -mean log D(x)``, ``loss_fake = -mean log(1 - D(G(z)))`` and
``loss_fake_ = -mean log D(G(z))``:

=============  ==========================  =============================
name           discriminator               generator
=============  ==========================  =============================
jsd            loss_real + loss_fake       -loss_fake (minimax, the paper)
alternative    loss_real + loss_fake       loss_fake_ (non-saturating)
reverse_kl     loss_real + loss_fake       loss_fake_ - loss_fake
updown         mean(-D(x) + D(G(z)))       mean(-D(G(z)))
=============  ==========================  =============================
"""

import flax.struct
import jax
import jax.numpy as jnp

LOSSES = ('jsd', 'alternative', 'reverse_kl', 'updown')
CLIP = 1e-3


@flax.struct.dataclass
class DOutput:
  prob: jax.Array      # [B] p(y=1|x)
  log_prob: jax.Array  # [B] log p
  log_not: jax.Array   # [B] log(1 - p)


def from_probability(p: jax.Array, clip: float = CLIP) -> DOutput:
  clipped = jnp.clip(p, clip, 1.0 - clip)
  return DOutput(prob=p, log_prob=jnp.log(clipped), log_not=jnp.log(1.0 - clipped))


def from_logit(logit: jax.Array) -> DOutput:
  return DOutput(prob=jax.nn.sigmoid(logit), log_prob=jax.nn.log_sigmoid(logit),
                 log_not=jax.nn.log_sigmoid(-logit))


def check_loss(kind: str) -> None:
  if kind not in LOSSES:
    raise ValueError(f'unknown loss {kind!r}; known: {list(LOSSES)}')


def discriminator_loss(real: DOutput, fake: DOutput, kind: str) -> jax.Array:
  check_loss(kind)
  if kind == 'updown':
    return jnp.mean(-real.prob + fake.prob)
  return -jnp.mean(real.log_prob) - jnp.mean(fake.log_not)


def generator_loss(fake: DOutput, kind: str) -> jax.Array:
  check_loss(kind)
  loss_fake = -jnp.mean(fake.log_not)
  loss_fake_ = -jnp.mean(fake.log_prob)
  if kind == 'jsd':
    return -loss_fake
  if kind == 'alternative':
    return loss_fake_
  if kind == 'reverse_kl':
    return loss_fake_ - loss_fake
  return -jnp.mean(fake.prob)  # updown
