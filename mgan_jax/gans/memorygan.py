"""MemoryGAN's head (SPEC sections 2-4): D's output read from the memory, the generator
conditioned on a memory key, the mutual-information term, and the memory write."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from mgan_jax.gans import base, losses
from mgan_jax import memory as mm


@dataclasses.dataclass(frozen=True)
class MemoryHead(base.BinaryHead):
  """The discriminative memory network's head.

  Its state is the :class:`~mgan_jax.memory.Memory`; ``ops`` binds the memory functions to
  the step's device layout (whole memory on every replica, or slots split over them).
  """

  config: mm.MemoryConfig
  coll: mm.Collectives
  mi_weight: float
  mi_form: str = 'squared'
  mi_networks: str = 'both'

  @classmethod
  def from_config(cls, config, axis_name=None, sharded=False):
    return cls(config=mm.MemoryConfig(**dict(config.memory)),
               coll=mm.Collectives.make(axis_name, sharded), mi_weight=config.mi_weight,
               # runs saved before these options trained with the paper's form
               mi_form=config.get('mi_form', 'squared'),
               mi_networks=config.get('mi_networks', 'both'))

  def validate(self, config, num_replicas):
    memory = self.config
    if memory.key_dim != config.model.key_dim:
      raise ValueError(f'memory.key_dim={memory.key_dim} must equal '
                       f'model.key_dim={config.model.key_dim}')
    if 2 * config.batch_size > memory.num_slots:
      raise ValueError(f'one write takes 2 * batch_size = {2 * config.batch_size} queries, '
                       f'more than memory.num_slots={memory.num_slots}')
    if self.coll.sharded:
      mm.check_shards(memory, num_replicas)

  def cond_dim(self):
    return self.config.key_dim

  def needs_labels(self):
    return False

  def num_logits(self):
    return 0

  def init_state(self, rng):
    return mm.init(self.config, rng)

  def condition(self, state, rng, num):
    """``K_c`` with ``c ~ Categorical(h v / sum(h v))`` (SPEC 4), [num, M]."""
    return mm.ops.sample_keys(state, rng, num, self.coll)[1]

  def d_outputs(self, state, features, logits):
    """One read of all the rows; the queries go to the write. ``no_real_slot`` marks the
    reads whose top-k holds no real slot: their p(real) is 0 whatever the query, so they
    pass no gradient to the encoder or the generator."""
    del logits
    queries = mm.normalize(features)
    out = mm.ops.read(state, queries, self.config, self.coll)
    # p(real) is exactly 0 only when no real slot is in the top-k (a real slot's posterior
    # weight would have to underflow: a score gap of ~100 nats).
    no_real = jax.lax.stop_gradient(out.prob_real) == 0
    return losses.from_probability(out.prob_real), {'queries': queries, 'no_real_slot': no_real}

  def penalty(self, state, features_fake, cond, network):
    """The mutual-information term on the generated images' encoder outputs mu.

    ``squared`` (SPEC 4, the paper and the reference code): ``lambda * mean((mu - K_c)^2)``
    over the batch and the M coordinates of the unnormalised mu. Its gradient in mu is
    ``2 lambda / M (mu - K_c)``: it mostly shrinks |mu|, which the read never sees (the
    query is mu / |mu|), and it turns mu toward K_c with a weight of order lambda / M
    (4e-5 at the fashion setting; measured: the generator ignores its slot).

    ``cosine``: ``lambda * mean(1 - cos(mu, K_c))``, the direction alone: the term is small
    when the generated image's query lands on the key it was generated from, i.e. when the
    memory reads slot c back from G(z, K_c), as InfoGAN's Q(c | x) does (here Q is the
    memory's own posterior, which ranks slots by q . K).

    ``posterior``: ``lambda * mean(-log p(c | q, v = 1))``, InfoGAN's bound with the memory's
    posterior over its real slots as ``Q(c | x)`` (:func:`mgan_jax.memory.key_log_posterior`:
    the read's scores ``kappa K_i . q + log(h_i + beta)``, softmax over the real slots). Since
    ``c`` is a discrete slot, this is the categorical ``Q`` the bound
    ``I(c; G(z, K_c)) >= H(c) + E log Q(c | x)`` asks for; the paper's vMF likelihood
    (``squared``, ``cosine``) is its unnormalised numerator. Its gradient in q,
    ``kappa (K_c - E_p[K])``, points from the keys the query reads now toward c's: the term
    is small only when the sample is read back as its own slot rather than a neighbour's,
    where ``1 - cos`` is already small once the query is near any key close to K_c.

    ``mi_networks``: ``both`` adds the term to the D and the G loss (SPEC 4); ``generator``
    to the G loss only. In the D loss the term pulls the fakes' queries toward real keys,
    against D's own objective (its encoder is InfoGAN's Q and D at once).
    """
    if network == 'd' and self.mi_networks == 'generator':
      return jnp.zeros((), jnp.float32)
    if self.mi_form == 'posterior':
      queries = mm.normalize(features_fake)
      log_q = mm.ops.key_log_posterior(state, queries, cond, self.config, self.coll)
      return -self.mi_weight * jnp.mean(log_q)
    if self.mi_form == 'cosine':
      cos = jnp.sum(mm.normalize(features_fake) * mm.normalize(cond), axis=-1)
      return self.mi_weight * jnp.mean(1.0 - cos)
    return self.mi_weight * jnp.mean(jnp.square(features_fake - cond))

  def update(self, state, aux, num_groups):
    """The memory write with the step's queries: the first half real (y = 1), the second
    fake (y = 0) when ``num_groups`` is 2; all fake when it is 1 (the reference code's
    extra write in the G step)."""
    queries = jax.lax.stop_gradient(aux['queries'])
    rows = queries.shape[0]
    if num_groups == 2:
      labels = (jnp.arange(rows) < rows // 2).astype(jnp.int32)
    else:
      labels = jnp.zeros((rows,), jnp.int32)
    state, stats = mm.ops.write(state, queries, labels, self.config, self.coll, num_groups)
    metrics = mm.health.diagnostics(state, stats, self.coll, self.config)
    fakes = aux['no_real_slot'][rows // 2:] if num_groups == 2 else aux['no_real_slot']
    metrics['fake_reads_without_real_slot'] = self._mean(fakes.astype(jnp.float32))
    return state, {f'memory/{k}': v for k, v in metrics.items()}

  def output_metrics(self, aux):
    """Of the G step's read: the share of generated images whose top-k holds no real slot
    (they give the generator no gradient through the memory)."""
    return {'memory/g_reads_without_real_slot':
            self._mean(aux['no_real_slot'].astype(jnp.float32))}

  def _mean(self, x):
    x = jnp.mean(x)
    return x if self.coll.batch_axis is None else jax.lax.pmean(x, self.coll.batch_axis)
