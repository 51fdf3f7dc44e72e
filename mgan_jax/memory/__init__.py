"""The MemoryGAN memory: an immutable pytree and the pure functions that read and write it.

``from mgan_jax import memory`` gives the public API: :class:`MemoryConfig`, :class:`Memory`,
:func:`init`, :func:`read`, :func:`write`, the generator's :func:`sample_keys` and the
:func:`diagnostics`. Nothing here mutates: a read returns the discriminator output and never a
memory; a write returns a new memory.

Every operation runs on one device, under ``pmap``/``shard_map`` with the whole memory on
every replica (``axis_name``: each replica plans its own queries, the small plans are
all-gathered, replicas stay bit-identical), or with the slots split over the devices of the
axis (``sharded=True``; the memory passed is this device's ``N / D`` slots, see
:func:`shard`). The three are one implementation (:mod:`.ops`), parameterised by a
:class:`~.collectives.Collectives`.

Modules: :mod:`.types` (config, pytrees, checks), :mod:`.collectives` (device layouts),
:mod:`.ops` (read, plan, write, sampling), :mod:`.rules` (the write rules' EM),
:mod:`.health` (diagnostics).
"""

from __future__ import annotations

from typing import Optional

import jax

from mgan_jax.memory import health, ops, rules
from mgan_jax.memory.collectives import Collectives, all_gather_groups, shard, unshard
from mgan_jax.memory.ops import (canonical_order, check_shards, conditional_topk,
                                 miss_targets, query_digest, similarity_scores, slot_scores,
                                 split_threshold, top_c, top_k)
from mgan_jax.memory.types import (HIST_STEPS, KEY_INITS, UNIT_NORM_TOLERANCE, WRITE_RULES,
                                   Memory, MemoryConfig, ReadOutput, WritePlan, WriteStats,
                                   check_labels, check_memory, check_queries, init, normalize)

__all__ = [
    'Collectives', 'Memory', 'MemoryConfig', 'ReadOutput', 'WritePlan', 'WriteStats',
    'HIST_STEPS', 'KEY_INITS', 'UNIT_NORM_TOLERANCE', 'WRITE_RULES', 'all_gather_groups',
    'apply_write',
    'canonical_order', 'check_labels', 'check_memory', 'check_queries', 'check_shards',
    'conditional_topk', 'diagnostics', 'health', 'init', 'key_log_posterior',
    'miss_targets', 'normalize', 'ops',
    'plan_write', 'query_digest', 'read', 'rules', 'sample_keys', 'sample_slots', 'shard',
    'similarity_scores', 'slot_scores', 'split_threshold', 'top_c', 'top_k', 'unshard',
    'write',
]


def read(memory: Memory, queries: jax.Array, config: MemoryConfig,
         axis_name: Optional[str] = None, *, sharded: bool = False) -> ReadOutput:
  """``p(y=1|x)`` for unit queries [B, M] (SPEC 2); see :func:`.ops.read`."""
  return ops.read(memory, queries, config, Collectives.make(axis_name, sharded))


def key_log_posterior(memory: Memory, queries: jax.Array, keys: jax.Array,
                      config: MemoryConfig, axis_name: Optional[str] = None, *,
                      sharded: bool = False) -> jax.Array:
  """``log p(c | q, v = 1)`` of the slot named by its key (the posterior MI term's Q); see
  :func:`.ops.key_log_posterior`."""
  return ops.key_log_posterior(memory, queries, keys, config,
                               Collectives.make(axis_name, sharded))


def plan_write(memory: Memory, queries: jax.Array, labels: jax.Array, config: MemoryConfig,
               axis_name: Optional[str] = None, num_groups: int = 1, *,
               sharded: bool = False) -> WritePlan:
  """The global batch's write plan (hit test, S_y); see :func:`.ops.plan_write`."""
  return ops.plan_write(memory, queries, labels, config, Collectives.make(axis_name, sharded),
                        num_groups)


def apply_write(memory: Memory, plan: WritePlan, config: MemoryConfig,
                axis_name: Optional[str] = None, *, sharded: bool = False):
  """Applies a global plan with an order-free rule; see :func:`.ops.apply_write`."""
  return ops.apply_write(memory, plan, config, Collectives.make(axis_name, sharded))


def write(memory: Memory, queries: jax.Array, labels: jax.Array, config: MemoryConfig,
          axis_name: Optional[str] = None, num_groups: int = 1, *, sharded: bool = False):
  """One memory write (SPEC 3) with unit queries [B, M] and labels [B] in {0, 1}.

  Returns ``(new_memory, stats)``. With ``axis_name`` (inside ``pmap``/``shard_map``), the
  write covers the global batch: ``num_groups`` equal consecutive groups of each local batch
  (the train step's real then fake queries: 2) are gathered in the order one device sees
  the same global batch, so every layout writes the same memory.
  """
  return ops.write(memory, queries, labels, config, Collectives.make(axis_name, sharded),
                   num_groups)


def sample_slots(memory: Memory, rng: jax.Array, num: int, axis_name: Optional[str] = None,
                 *, sharded: bool = False) -> jax.Array:
  """Slot indices ``c ~ Categorical(h v / sum(h v))``; see :func:`.ops.sample_slots`."""
  return ops.sample_slots(memory, rng, num, Collectives.make(axis_name, sharded))


def sample_keys(memory: Memory, rng: jax.Array, num: int, axis_name: Optional[str] = None,
                *, sharded: bool = False):
  """``(indices [num], keys [num, M])``: the generator's conditioning ``K_c``."""
  return ops.sample_keys(memory, rng, num, Collectives.make(axis_name, sharded))


def diagnostics(memory: Memory, stats: Optional[WriteStats] = None,
                axis_name: Optional[str] = None, *, sharded: bool = False,
                config: Optional[MemoryConfig] = None) -> dict[str, jax.Array]:
  """Scalars that say how the memory is used; see :mod:`.health`."""
  return health.diagnostics(memory, stats, Collectives.make(axis_name, sharded), config)
