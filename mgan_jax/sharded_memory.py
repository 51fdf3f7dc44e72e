"""The memory with its slots split over the devices of a ``pmap`` axis.

For memories larger than one device should hold: device ``d`` of ``D`` holds slots
``[d n, (d + 1) n)`` with ``n = N / D`` (a :class:`~mgan_jax.memory.Memory` of n slots).
Inside ``pmap`` the functions here compute exactly what :mod:`mgan_jax.memory` computes on
the whole memory, for the global batch:

* every device scores the global batch's queries against its own slots and keeps its local
  top-k; the ``D k`` candidates are all-gathered and merged to the global top-k (ties go to
  the lower global slot index, as in ``lax.top_k`` on the whole memory);
* a write plans the global batch the same way (hit test, ``S_y``), applies EM to the slots it
  owns, and takes the globally oldest slots for the misses from a merge of local oldest
  lists: each device writes only its own slots.

Per device, a read or a write scores ``B_global x n`` similarities: for a fixed global batch
the cost falls as devices are added, and the memory per device is ``N / D``. ``config`` is
the :class:`~mgan_jax.memory.MemoryConfig` of the whole memory (``num_slots = N``).
"""

from typing import Optional

import jax
import jax.numpy as jnp

from mgan_jax import memory as mm


def shard(memory: mm.Memory, num_shards: int) -> mm.Memory:
  """[N, ...] -> [num_shards, N / num_shards, ...] (host side, as pmap's input)."""
  n = memory.keys.shape[0]
  if n % num_shards:
    raise ValueError(f'num_slots={n} does not split over {num_shards} devices')
  return jax.tree.map(lambda x: x.reshape((num_shards, n // num_shards) + x.shape[1:]), memory)


def unshard(memory: mm.Memory) -> mm.Memory:
  """[num_shards, n, ...] -> [num_shards * n, ...]."""
  return jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), memory)


def check_shards(config: mm.MemoryConfig, num_shards: int) -> int:
  """Validates the split (before tracing) and returns the slots per device."""
  n, k = config.num_slots, config.choose_k
  if n % num_shards:
    raise ValueError(f'num_slots={n} does not split over {num_shards} devices')
  if k > n // num_shards:
    raise ValueError(f'choose_k={k} is more than the {n // num_shards} slots of one device; '
                     'use fewer devices or a smaller k')
  return n // num_shards


def _num_shards(axis_name: str) -> int:
  return jax.lax.psum(1, axis_name)


def _offset(axis_name: str, n_local: int):
  return jax.lax.axis_index(axis_name) * n_local


def _merge(local_scores, payloads, k: int, axis_name: str):
  """Global top-k of every device's local top candidates [B, c] -> ([B, k], payloads)."""
  gathered = jax.lax.all_gather(local_scores, axis_name, axis=1, tiled=True)  # [B, D c]
  top, pos = jax.lax.top_k(gathered, k)
  merged = [jnp.take_along_axis(jax.lax.all_gather(p, axis_name, axis=1, tiled=True), pos, 1)
            for p in payloads]
  return top, merged


def read(local: mm.Memory, queries: jax.Array, config: mm.MemoryConfig,
         axis_name: str) -> mm.ReadOutput:
  """:func:`mgan_jax.memory.read` of this replica's queries against the whole memory.

  Gradients flow to ``queries`` (back through the all-gather) and not to the memory.
  """
  mm.check_queries(queries, config)
  n_local = check_shards(config, _num_shards(axis_name))
  batch = queries.shape[0]
  q_all = jax.lax.all_gather(queries.astype(jnp.float32), axis_name, tiled=True)
  local = jax.lax.stop_gradient(local)
  _, scores = mm.similarity_scores(local, q_all, config)
  top, idx = mm.top_k(scores, config)
  top, (indices, values) = _merge(top, (idx + _offset(axis_name, n_local), local.values[idx]),
                                  config.choose_k, axis_name)
  mine = jax.lax.axis_index(axis_name) * batch
  top = jax.lax.dynamic_slice_in_dim(top, mine, batch)
  indices = jax.lax.dynamic_slice_in_dim(indices, mine, batch)
  values = jax.lax.dynamic_slice_in_dim(values, mine, batch)
  posterior = jax.nn.softmax(top, axis=-1)
  return mm.ReadOutput(prob_real=jnp.sum(posterior * values.astype(posterior.dtype), axis=-1),
                       indices=indices, posterior=posterior)


def plan_write(local: mm.Memory, queries: jax.Array, labels: jax.Array,
               config: mm.MemoryConfig, axis_name: str, num_groups: int = 1):
  """The global batch's plan (identical on every device) and ``h`` at its ``S_y`` entries."""
  mm.check_queries(queries, config)
  mm.check_labels(labels, queries.shape[0])
  n_local = check_shards(config, _num_shards(axis_name))
  offset = _offset(axis_name, n_local)
  q_all, y_all = mm.all_gather_groups(
      (jax.lax.stop_gradient(queries).astype(jnp.float32), labels.astype(jnp.int32)),
      axis_name, num_groups)
  local = jax.lax.stop_gradient(local)
  sims, scores = mm.similarity_scores(local, q_all, config)

  c = config.correct_in_top
  best, best_idx = mm.top_c(scores, c)
  _, (best_values,) = _merge(best, (local.values[best_idx],), c, axis_name)
  hit = jnp.any(best_values == y_all[:, None], axis=-1)

  same = local.values[None, :] == y_all[:, None]
  cond, idx = mm.top_k(jnp.where(same, scores, -jnp.inf), config)
  cond, (indices, cond_sims, cond_hist) = _merge(
      cond, (idx + offset, jnp.take_along_axis(sims, idx, 1), local.hist[idx]),
      config.choose_k, axis_name)
  plan = mm.WritePlan(queries=q_all, labels=y_all, hit=hit, cond_indices=indices,
                      cond_valid=jnp.isfinite(cond) & hit[:, None], cond_sims=cond_sims)
  return plan, cond_hist


def write(local: mm.Memory, queries: jax.Array, labels: jax.Array, config: mm.MemoryConfig,
          axis_name: str, num_groups: int = 1):
  """:func:`mgan_jax.memory.write` of the global batch; each device updates its own slots.

  Returns ``(local memory, stats)``; the stats are of the global batch (same everywhere).
  """
  n_local = check_shards(config, _num_shards(axis_name))
  offset = _offset(axis_name, n_local)
  plan, cond_hist = plan_write(local, queries, labels, config, axis_name, num_groups)
  batch = plan.queries.shape[0]
  if batch > config.num_slots:
    raise ValueError(f'a write of {batch} queries needs at least as many slots, but '
                     f'num_slots={config.num_slots}: misses must take distinct slots')

  # --- EM, in canonical order, on the S_y entries this device owns. ---
  canon = mm.canonical_order(plan)
  q, valid = plan.queries[canon], plan.cond_valid[canon]
  indices = plan.cond_indices[canon]
  local_idx = indices - offset
  owned = (local_idx >= 0) & (local_idx < n_local)
  columns = jnp.where(valid & owned, local_idx, n_local)
  touched = jnp.zeros((n_local,), bool).at[columns].set(True, mode='drop')
  safe_idx = jnp.clip(local_idx, 0, n_local - 1)

  def refresh(keys_t, hist_t):  # owners compute their entries; the others contribute 0
    sims = jnp.einsum('bkm,bm->bk', keys_t[safe_idx], q)
    return (jax.lax.psum(jnp.where(owned, sims, 0.0), axis_name),
            jax.lax.psum(jnp.where(owned, hist_t[safe_idx], 0.0), axis_name))

  keys, hist = mm.dense_em(local.keys, local.hist, touched, q, valid, columns,
                           plan.cond_sims[canon], config.alpha * cond_hist[canon], config,
                           refresh)
  ages = jnp.where(touched, 0, local.ages + 1)

  # --- LRU: the globally oldest slots, from every device's oldest. ---
  m = min(batch, n_local)
  local_ages, local_oldest = jax.lax.top_k(local.ages, m)
  _, (oldest,) = _merge(local_ages[None], ((local_oldest + offset)[None],), batch, axis_name)
  target = mm.miss_targets(plan.hit, oldest[0], config.num_slots) - offset
  target = jnp.where((target >= 0) & (target < n_local), target, n_local)
  mean_hist = jax.lax.psum(jnp.sum(local.hist), axis_name) / config.num_slots
  keys = keys.at[target].set(plan.queries, mode='drop')
  values = local.values.at[target].set(plan.labels.astype(local.values.dtype), mode='drop')
  ages = ages.at[target].set(0, mode='drop')
  hist = hist.at[target].set(mean_hist, mode='drop')
  return (mm.Memory(keys=keys, values=values, ages=ages, hist=hist), mm.write_stats(plan))


def sample_keys(local: mm.Memory, rng: jax.Array, num: int, axis_name: str):
  """:func:`mgan_jax.memory.sample_keys` on the whole memory: the same draws for the same
  rng. Gathers the N histogram weights (N floats), then each device contributes the keys
  it owns."""
  local = jax.lax.stop_gradient(local)
  whole = mm.Memory(keys=jnp.zeros((0, local.keys.shape[1]), local.keys.dtype),
                    values=jax.lax.all_gather(local.values, axis_name, tiled=True),
                    ages=local.ages, hist=jax.lax.all_gather(local.hist, axis_name, tiled=True))
  indices = mm.sample_slots(whole, rng, num)
  n_local = local.keys.shape[0]
  mine = indices - _offset(axis_name, n_local)
  owned = (mine >= 0) & (mine < n_local)
  keys = jnp.where(owned[:, None], local.keys[jnp.clip(mine, 0, n_local - 1)], 0.0)
  return indices, jax.lax.psum(keys, axis_name)


def diagnostics(local: mm.Memory, axis_name: str,
                stats: Optional[mm.WriteStats] = None) -> dict[str, jax.Array]:
  """:func:`mgan_jax.memory.diagnostics` of the whole memory (psums of local sums)."""
  psum = lambda x: jax.lax.psum(x, axis_name)
  hist = local.hist.astype(jnp.float32)
  real = local.values.astype(jnp.float32)
  total_slots = psum(jnp.asarray(hist.shape[0], jnp.float32))

  def effective(weight):
    p = weight / jnp.maximum(psum(jnp.sum(weight)), 1e-30)
    entropy = -psum(jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0)))
    return entropy, jnp.exp(entropy)

  entropy, eff = effective(hist)
  _, eff_real = effective(hist * real)
  out = {
      'real_fraction': psum(jnp.sum(real)) / total_slots,
      'slot_entropy': entropy,
      'effective_slots': eff,
      'effective_real_slots': eff_real,
      'mean_age': psum(jnp.sum(local.ages.astype(jnp.float32))) / total_slots,
      'hist_mass': psum(jnp.sum(hist)),
  }
  if stats is not None:
    out.update({k: v for k, v in mm.diagnostics(local, stats).items()
                if k in ('real_hits', 'real_misses', 'fake_hits', 'fake_misses', 'hit_rate')})
  return out
