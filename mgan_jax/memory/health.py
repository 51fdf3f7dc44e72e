"""How the memory is used: cheap scalars, jittable, the same for every device layout.

The health measures of the write-rule study (SPEC 3; ``memory_dynamics/REPORT.md``):

* ``real_hit_rate`` / ``fake_hit_rate`` — hits among the write's real and fake queries; a
  fake hit rate above 0 means the memory remembers past fakes (the paper's second claim);
* ``distinct_real_keys`` — among the real slots that hold 90% of the real histogram (the
  ``max_slots`` most used at most), a greedy count, most used first, of keys whose cosine to
  every key kept so far is below 0.95; ``distinct_top20`` the same among the 20 most used;
  a collapsed memory has 1;
* ``prior_gap`` — ``log(max real h + beta) - log(mean h + beta)``: while it exceeds
  ``2 kappa`` (logged as ``prior_gap_limit``) no content can move a query from the top slot;
* ``split_threshold`` — ``|mean q| / lambda_max`` of the real queries (from the write):
  the write's kappa must exceed it for EM to split clusters.

:func:`real_slot_usage` (evaluation, one device) counts how many of a set of real queries
pick each real slot first (:func:`best_real_slot`): which slots the data uses. Under the
``proposals`` rule the histogram is bounded (h -> 2 for every slot written), so ``h v``
does not rank use.
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp

from mgan_jax.memory.collectives import Collectives
from mgan_jax.memory.ops import ONE_DEVICE, similarity_scores
from mgan_jax.memory.types import Memory, MemoryConfig, WriteStats

DISTINCT_COSINE = 0.95
DISTINCT_MASS = 0.9
DISTINCT_MAX_SLOTS = 256
DISTINCT_UNROLL = 16


def greedy_distinct(keys: jax.Array, eligible: jax.Array, cosine: float = DISTINCT_COSINE):
  """How many of ``keys [L, M]`` (in order, ``eligible [L]`` only) a greedy pass keeps: a
  key is kept when its cosine to every key kept before it is below ``cosine``."""
  gram = keys @ keys.T
  size = keys.shape[0]

  def step(i, kept):
    far = jnp.all(jnp.where(kept, gram[i] < cosine, True))
    return kept.at[i].set(eligible[i] & far)

  # Unrolled by 16: each iteration of an XLA while loop costs a GPU a round trip to the host
  # for its condition; rolled, the 2 x 256 iterations of a step's diagnostics took ~8 of an
  # H200's 11 ms fashion step (benchmarks/gpu_profile.sh, WORKSPACE.md).
  kept = jax.lax.fori_loop(0, size, step, jnp.zeros((size,), bool), unroll=DISTINCT_UNROLL)
  return jnp.sum(kept, dtype=jnp.int32)


def distinct_real_keys(memory: Memory, coll: Collectives = ONE_DEVICE,
                       max_slots: int = DISTINCT_MAX_SLOTS, mass: float = DISTINCT_MASS,
                       cosine: float = DISTINCT_COSINE):
  """``(distinct among the slots holding `mass` of the real histogram, distinct among the 20
  most used real slots)``; see the module docstring."""
  memory = jax.lax.stop_gradient(memory)
  weight = memory.hist * memory.values.astype(memory.hist.dtype)
  size = min(max_slots, memory.num_slots * coll.num_shards())
  local = min(size, memory.num_slots)
  top_w, idx = jax.lax.top_k(weight, local)
  top_w, (keys,) = coll.merge_top(top_w[None], (memory.keys[idx][None],), size)
  top_w, keys = top_w[0], keys[0]
  total = coll.psum(jnp.sum(weight))
  before = jnp.cumsum(top_w) - top_w            # real mass of the slots used more
  real = top_w > 0
  in_mass = real & (before < mass * total)
  top20 = real & (jnp.arange(size) < 20)
  return greedy_distinct(keys, in_mass, cosine), greedy_distinct(keys, top20, cosine)


def best_real_slot(memory: Memory, queries: jax.Array, config: MemoryConfig) -> jax.Array:
  """For unit queries [B, M] of real images, each one's best real slot: the argmax of
  ``s_i(q)`` over the slots with ``v_i = 1`` (the first slot of the write's ``S_y`` for
  y = 1 at the read's kappa; ties to the lower index), [B] int32; -1 when the memory has
  no real slot."""
  memory = jax.lax.stop_gradient(memory)
  _, scores = similarity_scores(memory, queries, config)
  scores = jnp.where(memory.values[None, :] == 1, scores, -jnp.inf)
  best = jnp.argmax(scores, axis=1).astype(jnp.int32)
  return jnp.where(jnp.any(memory.values == 1), best, -1)


def real_slot_usage(memory: Memory, queries: jax.Array, config: MemoryConfig) -> jax.Array:
  """How many of the real queries [B, M] pick each slot as their best real slot
  (:func:`best_real_slot`), [N] int32: which slots the data uses."""
  best = best_real_slot(memory, queries, config)
  return jnp.zeros((memory.num_slots,), jnp.int32).at[best].add(
      (best >= 0).astype(jnp.int32), mode='drop')


def diagnostics(memory: Memory, stats: Optional[WriteStats] = None,
                coll: Collectives = ONE_DEVICE,
                config: Optional[MemoryConfig] = None) -> dict[str, jax.Array]:
  """Scalars that say how the memory is used; pure, cheap, jittable.

  ``effective_slots`` is exp(entropy of h / sum h), the number of equally used slots with
  the same entropy; ``effective_real_slots`` the same over the real slots' histogram, from
  which the generator samples; ``written_last`` the share of slots with age 0. With
  ``stats`` (a write's), the hit counts and rates and the split threshold; with ``config``,
  the prior gap's limit 2 kappa.
  """
  hist = memory.hist.astype(jnp.float32)
  real = memory.values.astype(jnp.float32)
  slots = coll.psum(jnp.asarray(hist.shape[0], jnp.float32))

  def effective(weight):
    p = weight / jnp.maximum(coll.psum(jnp.sum(weight)), 1e-30)
    entropy = -coll.psum(jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0)))
    return entropy, jnp.exp(entropy)

  entropy, eff = effective(hist)
  _, eff_real = effective(hist * real)
  beta = 1e-8 if config is None else config.beta
  mean_hist = coll.psum(jnp.sum(hist)) / slots
  max_real = jnp.max(jnp.where(real > 0, hist, 0.0))
  if coll.sharded:
    max_real = jax.lax.pmax(max_real, coll.slot_axis)
  distinct, distinct20 = distinct_real_keys(memory, coll)
  out = {
      'real_fraction': coll.psum(jnp.sum(real)) / slots,
      'slot_entropy': entropy,
      'effective_slots': eff,
      'effective_real_slots': eff_real,
      'mean_age': coll.psum(jnp.sum(memory.ages.astype(jnp.float32))) / slots,
      # Slots the last write touched. Near 1, every age ties and the LRU has no oldest slot
      # to choose (it takes the lowest indices): a write whose S_y is every slot of a label.
      'written_last': coll.psum(jnp.sum((memory.ages == 0).astype(jnp.float32))) / slots,
      'hist_mass': coll.psum(jnp.sum(hist)),
      'prior_gap': jnp.log(max_real + beta) - jnp.log(mean_hist + beta),
      'distinct_real_keys': distinct,
      'distinct_top20': distinct20,
  }
  if config is not None:
    out['prior_gap_limit'] = jnp.asarray(2.0 * config.kappa, jnp.float32)
  if stats is not None:
    real_total = stats.real_hits + stats.real_misses
    fake_total = stats.fake_hits + stats.fake_misses
    out.update({
        'real_hits': stats.real_hits, 'real_misses': stats.real_misses,
        'fake_hits': stats.fake_hits, 'fake_misses': stats.fake_misses,
        'hit_rate': (stats.real_hits + stats.fake_hits) / jnp.maximum(real_total + fake_total,
                                                                      1),
        'real_hit_rate': stats.real_hits / jnp.maximum(real_total, 1),
        'fake_hit_rate': stats.fake_hits / jnp.maximum(fake_total, 1),
        'split_threshold': stats.split_threshold,
    })
  return out
