"""MemoryGAN's head (SPEC sections 2-4): D's output read from the memory, the generator
conditioned on a memory key, the mutual-information term, and the memory write."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from mgan_jax.gans import losses
from mgan_jax import memory as mm


@dataclasses.dataclass(frozen=True)
class MemoryHead:
  """The discriminative memory network's head.

  Its state is the :class:`~mgan_jax.memory.Memory`; ``ops`` binds the memory functions to
  the step's device layout (whole memory on every replica, or slots split over them).
  """

  config: mm.MemoryConfig
  coll: mm.Collectives
  mi_weight: float

  @classmethod
  def from_config(cls, config, axis_name=None, sharded=False):
    return cls(config=mm.MemoryConfig(**dict(config.memory)),
               coll=mm.Collectives.make(axis_name, sharded), mi_weight=config.mi_weight)

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

  def init_state(self, rng):
    return mm.init(self.config, rng)

  def condition(self, state, rng, num):
    """``K_c`` with ``c ~ Categorical(h v / sum(h v))`` (SPEC 4), [num, M]."""
    return mm.ops.sample_keys(state, rng, num, self.coll)[1]

  def d_outputs(self, state, features, logits):
    """One read of all the rows; the queries go to the write."""
    del logits
    queries = mm.normalize(features)
    prob = mm.ops.read(state, queries, self.config, self.coll).prob_real
    return losses.from_probability(prob), queries

  def penalty(self, features_fake, cond):
    """``lambda * mean((mu(G(z, K_c)) - K_c)^2)`` (SPEC 4, the unnormalised encoder output)."""
    return self.mi_weight * jnp.mean(jnp.square(features_fake - cond))

  def update(self, state, aux, num_groups):
    """The memory write with the step's queries: the first half real (y = 1), the second
    fake (y = 0) when ``num_groups`` is 2; all fake when it is 1 (the reference code's
    extra write in the G step)."""
    queries = jax.lax.stop_gradient(aux)
    rows = queries.shape[0]
    if num_groups == 2:
      labels = (jnp.arange(rows) < rows // 2).astype(jnp.int32)
    else:
      labels = jnp.zeros((rows,), jnp.int32)
    state, stats = mm.ops.write(state, queries, labels, self.config, self.coll, num_groups)
    metrics = mm.health.diagnostics(state, stats, self.coll, self.config)
    return state, {f'memory/{k}': v for k, v in metrics.items()}
