"""Reading and writing the memory: pure functions, written once for every device layout.

Reading (SPEC section 2), for a unit query ``q``::

    s_i(q) = kappa * K_i . q + log(h_i + beta)
    S      = top_k_i s_i(q)
    p(y=1 | x) = sum_{i in S} v_i softmax_S(s)_i

Writing (SPEC section 3) is planned per query (:func:`plan_write`: the hit/miss test and the
label-conditioned top-k ``S_y``) and applied to the global batch (:func:`apply_write`: the
write rule's EM on the hit queries, then least-recently-used overwrite for the misses), or
query after query for the ``sequential`` rule. Every function takes a
:class:`~mgan_jax.memory.collectives.Collectives` (``coll``) that says how the batch and the
slots are split over devices; the default is one device.
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp

from mgan_jax.memory import rules
from mgan_jax.memory.collectives import Collectives
from mgan_jax.memory.types import (Memory, MemoryConfig, ReadOutput, WritePlan, WriteStats,
                                   check_labels, check_memory, check_queries)

ONE_DEVICE = Collectives()


# --------------------------------------------------------------------------------------
# Reading.


def similarity_scores(memory: Memory, queries: jax.Array, config: MemoryConfig):
  """Similarities ``K . q`` [B, n] and slot scores ``s`` [B, n] of the memory's slots.

  Differentiable in ``queries`` only: the memory is a constant for autodiff.
  """
  memory = jax.lax.stop_gradient(memory)
  sims = queries.astype(jnp.float32) @ memory.keys.T
  scores = config.kappa * sims + jnp.log(memory.hist + config.beta)
  return sims, scores


def _in_slot_order(k: int, n: int) -> bool:
  """Whether :func:`top_k` of ``k`` over ``n`` slots returns every slot in slot order."""
  return k >= n


def top_k(scores: jax.Array, config: MemoryConfig, k: Optional[int] = None):
  """The k (default choose_k) best slots per row: exact, or approximate if configured.

  When k covers every slot of the row the set is all of them, returned in slot order
  without a sort: everything downstream (the posterior, the EM over S_y, whose excluded
  slots carry -inf) depends on the set, not its order, and a full sort of [B, N] scores
  costs far more than the matmul (the fashion default, k = N = 4,096).
  """
  k = config.choose_k if k is None else k
  n = scores.shape[-1]
  if _in_slot_order(k, n):
    return scores, jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32), scores.shape)
  if config.topk == 'approx':
    return jax.lax.approx_max_k(scores, k, recall_target=config.approx_recall)
  return jax.lax.top_k(scores, k)


def top_c(scores: jax.Array, c: int):
  """``(values, indices)`` [B, c] of the c largest scores per row, ties to the lower index.

  For c = 1, two plain reductions (max, then the first index reaching it): on XLA:CPU 3.5x
  faster than the variadic reduce of argmax or top_k (WORKSPACE.md, memory benchmark notes).
  """
  if c > 1:
    return jax.lax.top_k(scores, c)
  n = scores.shape[1]
  best = jnp.max(scores, axis=-1, keepdims=True)
  first = jnp.min(jnp.where(scores == best, jnp.arange(n), n), axis=-1, keepdims=True)
  return best, jnp.minimum(first, n - 1)


def check_shards(config: MemoryConfig, num_shards: int) -> int:
  """Validates a split of the slots over ``num_shards`` devices; returns the slots per device."""
  n = config.num_slots
  if n % num_shards:
    raise ValueError(f'num_slots={n} does not split over {num_shards} devices')
  for name, k in (('choose_k', config.choose_k), ('write_k', config.write_top_k)):
    if k > n // num_shards:
      raise ValueError(f'{name}={k} is more than the {n // num_shards} slots of one device; '
                       'use fewer devices or a smaller k')
  return n // num_shards


def _check(memory, config, coll):
  shards = coll.num_shards()
  check_shards(config, shards)
  check_memory(memory, config, shards)


def slot_scores(memory: Memory, queries: jax.Array, config: MemoryConfig) -> jax.Array:
  """``s_i(q) = kappa K_i . q + log(h_i + beta)`` for every query and slot, [B, N]."""
  check_memory(memory, config)
  check_queries(queries, config)
  return similarity_scores(memory, queries, config)[1]


def read(memory: Memory, queries: jax.Array, config: MemoryConfig,
         coll: Collectives = ONE_DEVICE) -> ReadOutput:
  """The discriminator output ``p(y=1|x)`` for unit queries [B, M] (SPEC section 2).

  One ``[B, M] x [M, N]`` matmul and one top-k (per device, with the slots split: a merge
  of the devices' candidates). Gradients flow to ``queries`` through the scores of the
  selected slots; the memory is a constant.
  """
  _check(memory, config, coll)
  check_queries(queries, config)
  batch = queries.shape[0]
  if coll.sharded:
    queries = coll.gather_batch(queries.astype(jnp.float32))
  memory = jax.lax.stop_gradient(memory)
  _, scores = similarity_scores(memory, queries, config)
  top, idx = top_k(scores, config)
  offset = coll.slot_offset(memory.num_slots)
  if _in_slot_order(config.choose_k, memory.num_slots):  # idx[b] = 0 .. n-1: no gather
    values = jnp.broadcast_to(memory.values, idx.shape)
  else:
    values = memory.values[idx]
  top, (indices, real) = coll.merge_top(top, (idx + offset, values), config.choose_k)
  if coll.sharded:
    top, indices, real = (coll.my_rows(x, batch) for x in (top, indices, real))
  posterior = jax.nn.softmax(top, axis=-1)
  return ReadOutput(prob_real=jnp.sum(posterior * real.astype(posterior.dtype), axis=-1),
                    indices=indices, posterior=posterior)


def key_log_posterior(memory: Memory, queries: jax.Array, keys: jax.Array,
                      config: MemoryConfig, coll: Collectives = ONE_DEVICE,
                      same_key: float = 1e-5) -> jax.Array:
  """``log p(c | q, v = 1)`` [B]: the log of the posterior mass that the memory's real slots
  give the slot each query was generated from, named by its key ``keys[b] = K_c``.

  ``p(i | q, v = 1) = softmax_i(kappa K_i . q + log(h_i + beta))`` over the real slots (the
  read's scores over every slot, restricted to ``v_i = 1``), and ``c``'s mass is that of the
  slots whose key is ``K_c`` (cosine >= 1 - ``same_key``: slots with one key cannot be told
  apart by any query, so they share it; a ``K_c`` from a fake slot joins the softmax). This
  is InfoGAN's ``log Q(c | x)`` with the memory's own posterior as ``Q``: the categorical
  over the discrete slots from which ``c`` was drawn. Differentiable in ``queries`` only.
  """
  _check(memory, config, coll)
  check_queries(queries, config)
  batch = queries.shape[0]
  if coll.sharded:
    queries, keys = coll.gather_batch((queries.astype(jnp.float32),
                                       keys.astype(jnp.float32)))
  memory = jax.lax.stop_gradient(memory)
  _, scores = similarity_scores(memory, queries, config)
  target = jax.lax.stop_gradient(keys).astype(jnp.float32) @ memory.keys.T >= 1.0 - same_key
  allowed = target | (memory.values > 0)[None, :]
  log_mass = (coll.logsumexp(jnp.where(target, scores, -jnp.inf))
              - coll.logsumexp(jnp.where(allowed, scores, -jnp.inf)))
  return coll.my_rows(log_mass, batch) if coll.sharded else log_mass


def conditional_topk(memory: Memory, queries: jax.Array, labels: jax.Array,
                     config: MemoryConfig):
  """``S_y``: the top-k slots (k = the write's ``write_top_k``) under ``p(c | x, v_c = y)``
  at the write's concentration (SPEC section 3.3). Slots with ``v_i != y`` are excluded
  (score -inf). Returns ``(indices, valid)``, both [B, k]; ``valid`` is False where fewer
  than k slots hold y."""
  check_memory(memory, config)
  check_queries(queries, config)
  check_labels(labels, queries.shape[0])
  sims, scores = similarity_scores(memory, queries, config)
  cond, indices = _conditional_top(memory, sims, scores, labels, config)
  return indices, jnp.isfinite(cond)


def _conditional_top(memory, sims, scores, labels, config):
  """Top-``write_k`` of the write's scores over the slots of each query's label:
  (scores, indices)."""
  if config.write_kappa != config.kappa:
    scores = config.write_kappa * sims + jnp.log(memory.hist + config.beta)
  same = memory.values[None, :] == labels[:, None].astype(memory.values.dtype)
  return top_k(jnp.where(same, scores, -jnp.inf), config, config.write_top_k)


# --------------------------------------------------------------------------------------
# Planning a write.


def plan_write(memory: Memory, queries: jax.Array, labels: jax.Array, config: MemoryConfig,
               coll: Collectives = ONE_DEVICE, num_groups: int = 1) -> WritePlan:
  """The per-query part of a write (SPEC 3.1, 3.3) for the global batch, the same on every
  device: the correctness test at ``kappa``, and ``S_y`` at the write's concentration.

  With the slots split, the global batch is gathered first and scored against every
  device's slots; with the whole memory on every replica, each plans its own queries and the
  plans are all-gathered (``num_groups`` as in :func:`collectives.all_gather_groups`).
  """
  _check(memory, config, coll)
  check_queries(queries, config)
  check_labels(labels, queries.shape[0])
  queries = jax.lax.stop_gradient(queries).astype(jnp.float32)
  labels = labels.astype(jnp.int32)
  if coll.sharded:
    queries, labels = coll.gather_batch((queries, labels), num_groups)
  memory = jax.lax.stop_gradient(memory)
  offset = coll.slot_offset(memory.num_slots)
  sims, scores = similarity_scores(memory, queries, config)

  # The `correct_in_top` most probable slots of S are the overall top slots by score.
  c = config.correct_in_top
  best, best_idx = top_c(scores, c)
  _, (best_values,) = coll.merge_top(best, (memory.values[best_idx],), c)
  hit = jnp.any(best_values == labels[:, None], axis=-1)

  cond, idx = _conditional_top(memory, sims, scores, labels, config)
  if _in_slot_order(config.write_top_k, memory.num_slots):  # idx[b] = 0 .. n-1: no gathers
    cond_sims, cond_hist = sims, jnp.broadcast_to(memory.hist, idx.shape)
  else:
    cond_sims, cond_hist = jnp.take_along_axis(sims, idx, 1), memory.hist[idx]
  cond, (indices, cond_sims, cond_hist) = coll.merge_top(
      cond, (idx + offset, cond_sims, cond_hist), config.write_top_k)
  plan = WritePlan(queries=queries, labels=labels, hit=hit, cond_indices=indices,
                   cond_valid=jnp.isfinite(cond) & hit[:, None], cond_sims=cond_sims,
                   cond_hist=cond_hist)
  if not coll.sharded:
    plan = coll.gather_batch(plan, num_groups)
  return plan


def query_digest(queries: jax.Array, labels: jax.Array) -> jax.Array:
  """A uint32 digest of each (query, label), independent of the query's batch position."""
  bits = jax.lax.bitcast_convert_type(queries.astype(jnp.float32), jnp.uint32)
  mult = (jnp.arange(queries.shape[1], dtype=jnp.uint32) * jnp.uint32(2) + jnp.uint32(1)
          ) * jnp.uint32(0x9E3779B1)
  mixed = bits * mult
  mixed = mixed ^ (mixed >> jnp.uint32(15))
  return jnp.sum(mixed, axis=1, dtype=jnp.uint32) ^ labels.astype(jnp.uint32)


def canonical_order(plan: WritePlan) -> jax.Array:
  """A permutation of the batch by content (digest of each query and label): every sum of
  the EM update then runs in the same order whatever the order of the batch."""
  batch = plan.queries.shape[0]
  _, order = jax.lax.sort((query_digest(plan.queries, plan.labels), jnp.arange(batch)),
                          num_keys=1, is_stable=True)
  return order


def miss_targets(hit: jax.Array, oldest: jax.Array, sentinel: int) -> jax.Array:
  """The slot each query overwrites: the j-th miss in batch order takes ``oldest[j]``;
  hits get ``sentinel`` (an out-of-range index: the scatter drops it)."""
  miss = ~hit
  rank = jnp.cumsum(miss.astype(jnp.int32)) - 1
  return jnp.where(miss, oldest[jnp.clip(rank, 0, oldest.shape[0] - 1)], sentinel)


def split_threshold(queries: jax.Array, labels: jax.Array, iterations: int = 32) -> jax.Array:
  """``|mean q| / lambda_max`` of the real (label 1) queries' tangent covariance.

  The covariance is projected off the mean direction (``P C P``, ``P = I - u u^T``); its top
  eigenvalue is that of the ``[B, B]`` Gram matrix of the projected, centred queries, found
  by power iteration from a fixed start. Below this kappa, soft vMF EM cannot split one key
  into clusters of these queries (``memory_dynamics/REPORT.md``, mechanism 3).
  """
  w = (labels == 1).astype(jnp.float32)[:, None]
  count = jnp.maximum(jnp.sum(w), 1.0)
  mean = jnp.sum(w * queries, axis=0) / count
  length = jnp.linalg.norm(mean)
  u = mean / jnp.maximum(length, 1e-12)
  centred = w * (queries - mean)
  tangent = centred - (centred @ u)[:, None] * u[None, :]
  gram = tangent @ tangent.T / count

  def power(_, v):
    v = gram @ v
    return v / jnp.maximum(jnp.linalg.norm(v), 1e-30)

  start = 1.0 + 0.5 * jnp.cos(jnp.arange(gram.shape[0], dtype=jnp.float32))
  # Unrolled: a rolled loop of 32 tiny matvecs is mostly XLA:CPU's per-iteration overhead.
  v = jax.lax.fori_loop(0, iterations, power, start / jnp.linalg.norm(start), unroll=True)
  top = v @ gram @ v
  return length / jnp.maximum(top, 1e-12)


def write_stats(queries: jax.Array, labels: jax.Array, hit: jax.Array) -> WriteStats:
  """Hit and miss counts of a write's global batch, and its real queries' split threshold."""
  real = labels == 1
  return WriteStats(
      real_hits=jnp.sum(hit & real, dtype=jnp.int32),
      real_misses=jnp.sum(~hit & real, dtype=jnp.int32),
      fake_hits=jnp.sum(hit & ~real, dtype=jnp.int32),
      fake_misses=jnp.sum(~hit & ~real, dtype=jnp.int32),
      split_threshold=split_threshold(queries, labels),
  )


# --------------------------------------------------------------------------------------
# Applying a write.


def _check_batch(batch: int, config: MemoryConfig):
  if batch > config.num_slots:
    raise ValueError(f'a write of {batch} queries needs at least as many slots, but '
                     f'num_slots={config.num_slots}: misses must take distinct slots')


def apply_write(memory: Memory, plan: WritePlan, config: MemoryConfig,
                coll: Collectives = ONE_DEVICE, advance_ages: bool = True):
  """Applies the global batch's plan with an order-free rule; returns ``(memory, stats)``.

  In order (SPEC section 3): ages advance by one; the hit queries update their ``S_y`` slots
  by the rule's EM; then the misses overwrite the oldest slots, the j-th miss in batch order
  taking the j-th oldest slot (ages and mean(h) from before the write), winning over EM on
  the same slot. The EM sums run over the batch in a canonical order (sorted by a digest of
  each query's content), so the EM part is bit-identical whatever the order of the batch.
  Each device writes the slots it owns.
  """
  _check(memory, config, coll)
  batch = plan.queries.shape[0]
  _check_batch(batch, config)
  n = memory.num_slots
  offset = coll.slot_offset(n)

  # --- The rule's EM on S_y of the hit queries, in canonical order. ---
  canon = canonical_order(plan)
  valid = plan.cond_valid[canon]
  if _in_slot_order(config.write_top_k, n) and not coll.sharded:
    # S_y of every query is every slot, in slot order, with h from before the write (this
    # memory): rows the same whatever the order, so nothing to permute but the validity.
    column = jnp.where(valid, jnp.arange(n, dtype=jnp.int32)[None, :], n)
    cond_hist = jnp.broadcast_to(memory.hist, valid.shape)
    slots = rules.dense_slots(column, n, in_slot_order=True)
  else:
    local = plan.cond_indices[canon] - offset
    column = jnp.where(valid & (local >= 0) & (local < n), local, n)
    cond_hist = plan.cond_hist[canon]
    slots = (rules.dense_slots if config.dense_write(n) else rules.sparse_slots)(column, n)
  rule = config.write_rule if config.write_rule != 'sequential' else 'batched'
  keys, hist = rules.KERNELS[rule](slots, memory.keys, memory.hist, plan.queries[canon], valid,
                                   plan.cond_sims[canon], cond_hist, config,
                                   coll.psum)
  ages = memory.ages + 1 if advance_ages else memory.ages
  ages = jnp.where(slots.touched, 0, ages)

  # --- LRU: the globally oldest slots, last, so it wins over EM. ---
  m = min(batch, n)
  local_ages, local_oldest = jax.lax.top_k(memory.ages, m)
  _, (oldest,) = coll.merge_top(local_ages[None], ((local_oldest + offset)[None],), batch)
  target = miss_targets(plan.hit, oldest[0], config.num_slots) - offset
  target = jnp.where((target >= 0) & (target < n), target, n)
  mean_hist = coll.psum(jnp.sum(memory.hist)) / config.num_slots
  keys = keys.at[target].set(plan.queries, mode='drop')
  values = memory.values.at[target].set(plan.labels.astype(memory.values.dtype), mode='drop')
  ages = ages.at[target].set(0, mode='drop')
  hist = hist.at[target].set(mean_hist, mode='drop')
  return (Memory(keys=keys, values=values, ages=ages, hist=hist),
          write_stats(plan.queries, plan.labels, plan.hit))


def write_sequential(memory: Memory, queries: jax.Array, labels: jax.Array,
                     config: MemoryConfig, coll: Collectives = ONE_DEVICE, num_groups: int = 1):
  """The ``sequential`` rule (SPEC 3): ages advance once, then each query of the global
  batch, in order, is planned against the memory as the queries before it left it and
  written with the per-sample rule (one query: the batched EM is the per-sample EM, a miss
  takes the oldest slot with ``h = mean(h)`` at that moment). One ``lax.scan``."""
  _check(memory, config, coll)
  queries = jax.lax.stop_gradient(queries).astype(jnp.float32)
  queries, labels = coll.gather_batch((queries, labels.astype(jnp.int32)), num_groups)
  _check_batch(queries.shape[0], config)
  single = coll.without_batch_split()

  def one(mem, qy):
    q, y = qy
    plan = plan_write(mem, q[None], y[None], config, single)
    mem, _ = apply_write(mem, plan, config, single, advance_ages=False)
    return mem, plan.hit[0]

  memory = memory.replace(ages=memory.ages + 1)
  memory, hit = jax.lax.scan(one, memory, (queries, labels))
  return memory, write_stats(queries, labels, hit)


def write(memory: Memory, queries: jax.Array, labels: jax.Array, config: MemoryConfig,
          coll: Collectives = ONE_DEVICE, num_groups: int = 1):
  """One memory write (SPEC section 3) of unit queries [B, M] and labels [B] in {0, 1}
  with the config's write rule. Returns ``(new_memory, stats)``; the stats are of the global
  batch, the same on every device."""
  check_queries(queries, config)
  check_labels(labels, queries.shape[0])
  if config.write_rule == 'sequential':
    return write_sequential(memory, queries, labels, config, coll, num_groups)
  plan = plan_write(memory, queries, labels, config, coll, num_groups)
  return apply_write(memory, plan, config, coll)


# --------------------------------------------------------------------------------------
# The generator's side.


def sample_slots(memory: Memory, rng: jax.Array, num: int,
                 coll: Collectives = ONE_DEVICE) -> jax.Array:
  """Slot indices ``c ~ Categorical(h v / sum(h v))`` (real slots only), shape [num].

  If no slot is real (every one overwritten by fakes), falls back to ``h`` over all slots.
  The same draws for the same rng whatever the layout (the N weights are gathered).
  """
  memory = jax.lax.stop_gradient(memory)
  hist, values = coll.gather_slots(memory.hist), coll.gather_slots(memory.values)
  weight = hist * values.astype(hist.dtype)
  weight = jnp.where(jnp.sum(weight) > 0, weight, hist)
  logits = jnp.where(weight > 0, jnp.log(jnp.where(weight > 0, weight, 1.0)), -jnp.inf)
  # jax.random.categorical(rng, logits, shape=(num,)), draw for draw: the Gumbel-max trick
  # with its argmax as top_c's two plain reductions (XLA:CPU's variadic argmax over the
  # [num, N] scores cost ~7 ms of a ~30 ms ring8 step).
  perturbed = jax.random.gumbel(rng, (num, logits.shape[0]), logits.dtype) + logits[None, :]
  return top_c(perturbed, 1)[1][:, 0]


def sample_keys(memory: Memory, rng: jax.Array, num: int, coll: Collectives = ONE_DEVICE):
  """``(indices [num], keys [num, M])``: the generator's conditioning ``K_c``."""
  indices = sample_slots(memory, rng, num, coll)
  n = memory.num_slots
  mine = indices - coll.slot_offset(n)
  owned = (mine >= 0) & (mine < n)
  keys = jax.lax.stop_gradient(memory.keys)[jnp.clip(mine, 0, n - 1)]
  return indices, coll.psum(jnp.where(owned[:, None], keys, 0.0))
