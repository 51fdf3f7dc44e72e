"""The MemoryGAN memory: an immutable pytree and the pure functions that read and write it.

The memory ``M = (K, v, a, h)`` of SPEC.md section 1 is a :class:`Memory` pytree:

* ``keys``   ``K[N, M]``  unit mean directions of a von Mises-Fisher mixture (float32);
* ``values`` ``v[N]``     1 if the slot holds real data, 0 if fake (int32);
* ``ages``   ``a[N]``     writes since the slot was last written (int32);
* ``hist``   ``h[N]``     how much data the slot has absorbed (float32).

Nothing here mutates: :func:`read` returns the discriminator output and never a memory;
:func:`write` returns a new memory. Hyperparameters live in the frozen :class:`MemoryConfig`,
which is hashable and is passed as a static argument under ``jax.jit``.

Reading (SPEC section 2), for a unit query ``q``::

    s_i(q) = kappa * K_i . q + log(h_i + beta)
    S      = top_k_i s_i(q)
    p(y=1 | x) = sum_{i in S} v_i softmax_S(s)_i

Writing (SPEC section 3) is planned per query (:func:`plan_write`: the hit/miss test and the
label-conditioned top-k ``S_y``) and applied for the whole batch at once (:func:`apply_write`:
batched incremental EM on the hit queries, then least-recently-used overwrite for the misses).
Under ``pmap`` each replica plans its own queries, all-gathers the small plan, and applies the
same update, so every replica holds a bit-identical memory without ever broadcasting it.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

# A query counts as unit when its norm is within this of 1 (float32 normalisation is
# accurate to ~1e-7; bfloat16 networks to ~1e-2, which the caller should renormalise).
UNIT_NORM_TOLERANCE = 1e-3

_KEY_INITS = ('zeros', 'random')
_WRITE_IMPLS = ('auto', 'dense', 'sparse')


@dataclasses.dataclass(frozen=True)
class MemoryConfig:
  """Hyperparameters of the memory (SPEC sections 2-4), validated when made.

  Attributes:
    num_slots: N, the number of memory slots.
    key_dim: M, the dimension of keys and queries.
    choose_k: k, the size of the top-k sets S and S_y.
    alpha: decay of a slot's histogram before an EM update, in (0, 1].
    beta: smoothing inside log(h + beta), > 0.
    kappa: vMF concentration, > 0.
    em_steps: T, incremental-EM iterations per write, >= 1.
    correct_in_top: a query is a hit when one of the this-many most probable slots of S
      holds its label; 1 <= correct_in_top <= choose_k.
    init_hist: h of every slot at initialisation, > 0.
    key_init: 'zeros' (the reference code) or 'random' (random unit keys; needs an rng).
    write_impl: how the EM sums are formed; all give the same memory up to float rounding.
      'dense' scatters the responsibilities into a [B, N] matrix and forms the pulls
      ``Gamma^T Q`` as one matmul (best on TPU/GPU and for N up to ~64k); 'sparse' sums over
      the B*k (query, slot) pairs with segment sums (cost independent of N); 'auto' picks
      'dense' when N <= 64 * choose_k.
    topk: 'exact' (lax.top_k, ties to the lower index) or 'approx' (lax.approx_max_k with
      recall target ``approx_recall``: fast on TPU; on CPU XLA computes it exactly).
    approx_recall: the recall target of 'approx', in (0, 1].
  """

  num_slots: int = 4096
  key_dim: int = 256
  choose_k: int = 128
  alpha: float = 0.5
  beta: float = 1e-8
  kappa: float = 1.0
  em_steps: int = 1
  correct_in_top: int = 1
  init_hist: float = 1e-5
  key_init: str = 'zeros'
  write_impl: str = 'auto'
  topk: str = 'exact'
  approx_recall: float = 0.95

  def __post_init__(self):
    def need(ok: bool, message: str):
      if not ok:
        raise ValueError(f'MemoryConfig: {message}')

    for name in ('num_slots', 'key_dim', 'choose_k', 'em_steps', 'correct_in_top'):
      value = getattr(self, name)
      need(isinstance(value, (int, np.integer)) and not isinstance(value, bool),
           f'{name} must be an integer, got {value!r}')
    for name in ('alpha', 'beta', 'kappa', 'init_hist'):
      value = getattr(self, name)
      need(isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
           and math.isfinite(value), f'{name} must be a finite number, got {value!r}')
    need(self.num_slots >= 1, f'num_slots (N) must be >= 1, got {self.num_slots}')
    need(self.key_dim >= 1, f'key_dim (M) must be >= 1, got {self.key_dim}')
    need(1 <= self.choose_k <= self.num_slots,
         f'choose_k (k) must satisfy 1 <= k <= num_slots (N); got k={self.choose_k}, '
         f'N={self.num_slots}')
    need(1 <= self.correct_in_top <= self.choose_k,
         f'correct_in_top must satisfy 1 <= correct_in_top <= choose_k; got '
         f'{self.correct_in_top} with choose_k={self.choose_k}')
    need(self.em_steps >= 1, f'em_steps (T) must be >= 1, got {self.em_steps}')
    need(0.0 < self.alpha <= 1.0, f'alpha must be in (0, 1], got {self.alpha}')
    need(self.beta > 0.0, f'beta must be > 0, got {self.beta}')
    need(self.kappa > 0.0, f'kappa must be > 0, got {self.kappa}')
    need(self.init_hist > 0.0, f'init_hist must be > 0, got {self.init_hist}')
    need(self.key_init in _KEY_INITS,
         f'key_init must be one of {_KEY_INITS}, got {self.key_init!r}')
    need(self.write_impl in _WRITE_IMPLS,
         f'write_impl must be one of {_WRITE_IMPLS}, got {self.write_impl!r}')
    need(self.topk in ('exact', 'approx'), f"topk must be 'exact' or 'approx', got {self.topk!r}")
    need(isinstance(self.approx_recall, (int, float)) and 0.0 < self.approx_recall <= 1.0,
         f'approx_recall must be in (0, 1], got {self.approx_recall!r}')

  @property
  def dense_write(self) -> bool:
    if self.write_impl == 'auto':
      return self.num_slots <= 64 * self.choose_k
    return self.write_impl == 'dense'


@flax.struct.dataclass
class Memory:
  """The memory ``(K, v, a, h)``; see the module docstring."""

  keys: jax.Array    # [N, M] float32
  values: jax.Array  # [N] int32 in {0, 1}
  ages: jax.Array    # [N] int32
  hist: jax.Array    # [N] float32

  @property
  def num_slots(self) -> int:
    return self.keys.shape[-2]

  @property
  def key_dim(self) -> int:
    return self.keys.shape[-1]


@flax.struct.dataclass
class ReadOutput:
  """What the discriminator sees: ``p(y=1|x)`` and the top-k posterior behind it."""

  prob_real: jax.Array  # [B]    p(y=1 | x), SPEC Eq. 4
  indices: jax.Array    # [B, k] S, most probable first (ties to the lower slot index)
  posterior: jax.Array  # [B, k] softmax_S(s), the posterior over the slots of S


@flax.struct.dataclass
class WritePlan:
  """Per-query decisions of a write, all taken against the memory before the write.

  Small (``O(B k)`` besides the queries), so replicas all-gather it instead of the memory.
  """

  queries: jax.Array     # [B, M] float32
  labels: jax.Array      # [B] int32, 1 real / 0 fake
  hit: jax.Array         # [B] bool, the correctness test of SPEC section 3.1
  cond_indices: jax.Array  # [B, k] int32, S_y
  cond_valid: jax.Array  # [B, k] bool, entry of S_y that takes part in EM (hit and v = y)
  cond_sims: jax.Array   # [B, k] float32, K_i . q for i in S_y


@flax.struct.dataclass
class WriteStats:
  """Hit/miss counts of one write (over the global batch under ``pmap``)."""

  real_hits: jax.Array
  real_misses: jax.Array
  fake_hits: jax.Array
  fake_misses: jax.Array


# --------------------------------------------------------------------------------------
# Construction and validation.


def init(config: MemoryConfig, rng: Optional[jax.Array] = None) -> Memory:
  """A fresh memory (SPEC section 4).

  ``key_init='zeros'`` is the reference initialisation: K = 0, v = 1 for the first half of
  the slots (rounded up) and 0 for the rest, a = 0, h = init_hist. ``key_init='random'``
  draws the keys uniformly on the unit sphere from ``rng``.
  """
  n, m = config.num_slots, config.key_dim
  if config.key_init == 'zeros':
    keys = jnp.zeros((n, m), jnp.float32)
  else:
    if rng is None:
      raise ValueError("MemoryConfig.key_init='random' needs an rng: init(config, rng)")
    keys = normalize(jax.random.normal(rng, (n, m), jnp.float32))
  return Memory(
      keys=keys,
      values=(jnp.arange(n) < (n + 1) // 2).astype(jnp.int32),
      ages=jnp.zeros((n,), jnp.int32),
      hist=jnp.full((n,), config.init_hist, jnp.float32),
  )


def normalize(x: jax.Array, axis: int = -1, eps: float = 1e-12) -> jax.Array:
  """``x / |x|`` along ``axis``; a zero vector stays zero."""
  norm = jnp.sqrt(jnp.sum(jnp.square(x), axis=axis, keepdims=True))
  return x / jnp.maximum(norm, eps)


def _is_concrete(x: Any) -> bool:
  return not isinstance(x, jax.core.Tracer)


def check_memory(memory: Memory, config: MemoryConfig) -> None:
  """Raises ValueError if the memory's shapes do not match the config."""
  n, m = config.num_slots, config.key_dim
  expected = {'keys': (n, m), 'values': (n,), 'ages': (n,), 'hist': (n,)}
  for name, shape in expected.items():
    got = tuple(getattr(memory, name).shape)
    if got != shape:
      raise ValueError(f'memory.{name} has shape {got}, but the config wants {shape} '
                       f'(num_slots={n}, key_dim={m})')


def check_queries(queries: jax.Array, config: MemoryConfig) -> None:
  """Raises ValueError for queries the memory cannot take.

  Shapes and dtypes are checked always (at trace time under jit, before compiling); the
  values (finite, unit norm) are checked when the array is concrete, i.e. outside jit.
  """
  shape = tuple(np.shape(queries))
  if len(shape) != 2 or shape[1] != config.key_dim:
    raise ValueError(f'queries must have shape [batch, key_dim={config.key_dim}], got {shape}')
  if not jnp.issubdtype(jnp.result_type(queries), jnp.floating):
    raise ValueError(f'queries must be floating point, got {jnp.result_type(queries)}')
  if _is_concrete(queries) and shape[0]:
    q = np.asarray(queries, np.float32)
    if not np.all(np.isfinite(q)):
      bad = np.flatnonzero(~np.all(np.isfinite(q), axis=1))
      raise ValueError(f'queries must be finite; rows {bad[:8].tolist()} are not')
    norms = np.linalg.norm(q, axis=1)
    off = np.abs(norms - 1.0) > UNIT_NORM_TOLERANCE
    if np.any(off):
      row = int(np.flatnonzero(off)[0])
      raise ValueError(f'queries must have unit norm (normalize them first); row {row} has '
                       f'norm {norms[row]:.6g} ({int(off.sum())} rows are off)')


def check_labels(labels: jax.Array, batch: int) -> None:
  """Raises ValueError unless ``labels`` is an integer or bool [batch] array in {0, 1}."""
  shape = tuple(np.shape(labels))
  if shape != (batch,):
    raise ValueError(f'labels must have shape [batch={batch}], got {shape}')
  dtype = jnp.result_type(labels)
  if not (jnp.issubdtype(dtype, jnp.integer) or dtype == jnp.bool_):
    raise ValueError(f'labels must be integers in {{0, 1}} (1 real, 0 fake), got {dtype}')
  if _is_concrete(labels):
    lab = np.asarray(labels)
    if np.any((lab != 0) & (lab != 1)):
      raise ValueError(f'labels must be 0 (fake) or 1 (real); got values '
                       f'{sorted(set(np.unique(lab).tolist()) - {0, 1})[:8]}')


# --------------------------------------------------------------------------------------
# Reading.


def similarity_scores(memory: Memory, queries: jax.Array, config: MemoryConfig):
  """Similarities ``K . q`` [B, N] and slot scores ``s`` [B, N].

  Differentiable in ``queries`` only: the memory is a constant for autodiff.
  """
  memory = jax.lax.stop_gradient(memory)
  sims = queries.astype(jnp.float32) @ memory.keys.T
  scores = config.kappa * sims + jnp.log(memory.hist + config.beta)
  return sims, scores


def top_k(scores: jax.Array, config: MemoryConfig, k: Optional[int] = None):
  """The k (default choose_k) best slots per row: exact, or approximate if configured."""
  k = config.choose_k if k is None else k
  if config.topk == 'approx':
    return jax.lax.approx_max_k(scores, k, recall_target=config.approx_recall)
  return jax.lax.top_k(scores, k)


def slot_scores(memory: Memory, queries: jax.Array, config: MemoryConfig) -> jax.Array:
  """``s_i(q) = kappa K_i . q + log(h_i + beta)`` for every query and slot, [B, N]."""
  check_memory(memory, config)
  check_queries(queries, config)
  return similarity_scores(memory, queries, config)[1]


def read(memory: Memory, queries: jax.Array, config: MemoryConfig) -> ReadOutput:
  """The discriminator output ``p(y=1|x)`` for unit queries [B, M] (SPEC section 2).

  One ``[B, M] x [M, N]`` matmul and one top-k. Gradients flow to ``queries`` through the
  scores of the selected slots (the backward pass is one more matmul of the same shape);
  the memory is a constant.
  """
  check_memory(memory, config)
  check_queries(queries, config)
  _, scores = similarity_scores(memory, queries, config)
  top_scores, indices = top_k(scores, config)
  posterior = jax.nn.softmax(top_scores, axis=-1)
  real = jax.lax.stop_gradient(memory.values)[indices].astype(posterior.dtype)
  return ReadOutput(prob_real=jnp.sum(posterior * real, axis=-1), indices=indices,
                    posterior=posterior)


def conditional_topk(memory: Memory, queries: jax.Array, labels: jax.Array,
                     config: MemoryConfig):
  """``S_y``: the top-k slots under ``p(c | x, v_c = y)`` (SPEC section 3.3).

  Slots with ``v_i != y`` are excluded (score -inf). Returns ``(indices, valid)``, both
  [B, k]; ``valid`` is False where fewer than k slots hold label y.
  """
  check_memory(memory, config)
  check_queries(queries, config)
  check_labels(labels, queries.shape[0])
  _, scores = similarity_scores(memory, queries, config)
  return _conditional_topk(memory, scores, labels, config)


def _conditional_topk(memory, scores, labels, config):
  same = memory.values[None, :] == labels[:, None].astype(memory.values.dtype)
  cond_scores, indices = top_k(jnp.where(same, scores, -jnp.inf), config)
  return indices, jnp.isfinite(cond_scores)


# --------------------------------------------------------------------------------------
# Writing.


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


def plan_write(memory: Memory, queries: jax.Array, labels: jax.Array,
               config: MemoryConfig) -> WritePlan:
  """The per-query part of a write: the correctness test and ``S_y`` (SPEC 3.1, 3.3)."""
  check_memory(memory, config)
  check_queries(queries, config)
  check_labels(labels, queries.shape[0])
  queries = jax.lax.stop_gradient(queries).astype(jnp.float32)
  labels = labels.astype(jnp.int32)
  sims, scores = similarity_scores(memory, queries, config)
  # The `correct_in_top` most probable slots of S are the overall top slots by score.
  _, top = top_c(scores, config.correct_in_top)
  hit = jnp.any(memory.values[top] == labels[:, None], axis=-1)
  cond_indices, cond_valid = _conditional_topk(memory, scores, labels, config)
  return WritePlan(
      queries=queries,
      labels=labels,
      hit=hit,
      cond_indices=cond_indices,
      cond_valid=cond_valid & hit[:, None],
      cond_sims=jnp.take_along_axis(sims, cond_indices, axis=1),
  )


def query_digest(queries: jax.Array, labels: jax.Array) -> jax.Array:
  """A uint32 digest of each (query, label), independent of the query's batch position."""
  bits = jax.lax.bitcast_convert_type(queries.astype(jnp.float32), jnp.uint32)
  mult = (jnp.arange(queries.shape[1], dtype=jnp.uint32) * jnp.uint32(2) + jnp.uint32(1)
          ) * jnp.uint32(0x9E3779B1)
  mixed = bits * mult
  mixed = mixed ^ (mixed >> jnp.uint32(15))
  return jnp.sum(mixed, axis=1, dtype=jnp.uint32) ^ labels.astype(jnp.uint32)


def _masked_softmax(logits, valid):
  """Softmax over the valid entries of each row; a row with none gets all-zero weights."""
  logits = jnp.where(valid, logits, -jnp.inf)
  shift = jnp.max(jnp.where(valid, logits, 0.0), axis=1, keepdims=True)
  weights = jnp.where(valid, jnp.exp(logits - shift), 0.0)
  return weights / jnp.maximum(jnp.sum(weights, axis=1, keepdims=True), 1e-30)


def dense_em(keys, hist, touched, queries, valid, columns, entry_sims, entry_hist, config,
             refresh):
  """Batched incremental EM (SPEC 3) on the slots ``keys [n, M]``, ``hist [n]`` of one device,
  with the responsibilities as a dense [B, n] matrix.

  ``valid [B, k]`` marks the entries of each query's ``S_y`` (the softmax runs over them);
  ``columns [B, k]`` is the local slot of each entry this device updates, ``n`` elsewhere;
  ``touched [n]`` the local slots some entry updates. ``entry_sims``/``entry_hist`` are
  ``K_i . q_b`` and ``h^0_i = alpha h_i`` per entry for the first iteration;
  ``refresh(keys_t, hist_t)`` gives them for later ones. Each iteration is one scatter into
  [B, n] (no duplicates: the slots of one S_y are distinct), a column sum, one
  ``[n, B] x [B, M]`` matmul and one pass over the keys.
  """
  n = keys.shape[0]
  batch = queries.shape[0]
  rows = jnp.arange(batch)[:, None]
  hist0 = jnp.where(touched, config.alpha * hist, hist)

  def iteration(entry_sims, entry_hist, keys_t, hist_t, gamma_prev):
    gamma = _masked_softmax(config.kappa * entry_sims + jnp.log(entry_hist + config.beta),
                            valid)
    delta = jnp.zeros((batch, n), jnp.float32).at[rows, columns].set(
        gamma - gamma_prev, mode='drop')
    mass = jnp.sum(delta, axis=0)                  # sum_b dgamma_{b,i}, [n]
    pull = delta.T @ queries - mass[:, None] * keys_t   # sum_b dgamma_{b,i} (q_b - K_i)
    hist_t = hist_t + mass
    safe_hist = jnp.where(touched, hist_t, 1.0)[:, None]
    keys_t = jnp.where(touched[:, None], normalize(keys_t + pull / safe_hist), keys_t)
    return keys_t, hist_t, gamma

  def later(_, carry):
    return iteration(*refresh(carry[0], carry[1]), *carry)

  carry = iteration(entry_sims, entry_hist, keys, hist0, jnp.zeros(valid.shape, jnp.float32))
  keys, hist, _ = jax.lax.fori_loop(1, config.em_steps, later, carry)
  return keys, hist


def _em_dense(memory, queries, valid, indices, sims, config):
  n = config.num_slots
  columns = jnp.where(valid, indices, n)
  touched = jnp.zeros((n,), bool).at[columns].set(True, mode='drop')

  def refresh(keys_t, hist_t):
    return jnp.einsum('bkm,bm->bk', keys_t[indices], queries), hist_t[indices]

  keys, hist = dense_em(memory.keys, memory.hist, touched, queries, valid, columns, sims,
                        config.alpha * memory.hist[indices], config, refresh)
  return keys, hist, touched


def _em_sparse(memory, queries, valid, indices, sims, config):
  """Batched incremental EM over the B*k (query, slot) pairs, with segment sums.

  The pairs are sorted by slot (stably, so within a slot in the canonical batch order) and
  summed per segment; only the touched slots' keys are gathered and scattered back, so the
  cost does not grow with N (besides O(N) vectors).
  """
  n = config.num_slots
  batch, k = indices.shape
  entries = batch * k
  slot = jnp.where(valid, indices, n).reshape(entries)
  sorted_slot, order = jax.lax.sort((slot, jnp.arange(entries, dtype=jnp.int32)),
                                    num_keys=1, is_stable=True)
  first = jnp.concatenate([jnp.ones((1,), bool), sorted_slot[1:] != sorted_slot[:-1]])
  segment = jnp.cumsum(first.astype(jnp.int32)) - 1                       # sorted layout
  segment_slot = jnp.full((entries,), n, jnp.int32).at[
      jnp.where(first, segment, entries)].set(sorted_slot, mode='drop')    # n: no slot
  entry_segment = jnp.zeros((entries,), jnp.int32).at[order].set(segment).reshape(batch, k)
  sorted_queries = queries[order // k]                                     # [E, M]
  is_slot = segment_slot < n

  def segment_sum(x):
    return jax.ops.segment_sum(x, segment, num_segments=entries, indices_are_sorted=True)

  def iteration(sims, keys_t, hist_t, gamma_prev):
    logits = config.kappa * sims + jnp.log(hist_t[entry_segment] + config.beta)
    gamma = _masked_softmax(logits, valid)
    delta = (gamma - gamma_prev).reshape(entries)[order]
    mass = segment_sum(delta)
    pull = segment_sum(delta[:, None] * sorted_queries) - mass[:, None] * keys_t
    hist_t = hist_t + mass
    safe_hist = jnp.where(is_slot, hist_t, 1.0)[:, None]
    return normalize(keys_t + pull / safe_hist), hist_t, gamma

  def later(_, carry):
    return iteration(jnp.einsum('bkm,bm->bk', carry[0][entry_segment], queries), *carry)

  hist0 = config.alpha * memory.hist.at[segment_slot].get(mode='fill', fill_value=1.0)
  keys0 = memory.keys.at[segment_slot].get(mode='fill', fill_value=0.0)
  carry = iteration(sims, keys0, hist0, jnp.zeros((batch, k), jnp.float32))
  keys_em, hist_em, _ = jax.lax.fori_loop(1, config.em_steps, later, carry)
  keys = memory.keys.at[segment_slot].set(keys_em, mode='drop')
  hist = memory.hist.at[segment_slot].set(hist_em, mode='drop')
  touched = jnp.zeros((n,), bool).at[segment_slot].set(True, mode='drop')
  return keys, hist, touched


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


def write_stats(plan: WritePlan) -> WriteStats:
  real = plan.labels == 1
  miss = ~plan.hit
  return WriteStats(
      real_hits=jnp.sum(plan.hit & real, dtype=jnp.int32),
      real_misses=jnp.sum(miss & real, dtype=jnp.int32),
      fake_hits=jnp.sum(plan.hit & ~real, dtype=jnp.int32),
      fake_misses=jnp.sum(miss & ~real, dtype=jnp.int32),
  )


def apply_write(memory: Memory, plan: WritePlan, config: MemoryConfig):
  """Applies a (possibly all-gathered) plan to the memory; returns ``(memory, stats)``.

  In order (SPEC section 3): ages advance by one; the hit queries update their ``S_y`` slots
  by batched incremental EM over the batch's sufficient statistics; then the misses
  overwrite the oldest slots, the j-th miss in batch order taking the j-th oldest slot
  (ages and mean(h) from before the write), winning over EM on the same slot.

  The EM sums run over the batch in a canonical order (sorted by a digest of each query's
  content), so the EM part is bit-identical whatever the order of the batch.
  """
  check_memory(memory, config)
  n = config.num_slots
  batch = plan.queries.shape[0]
  if batch > n:
    raise ValueError(f'a write of {batch} queries needs at least as many slots, but '
                     f'num_slots={n}: misses must take distinct slots')

  # --- Incremental EM on S_y of the hit queries, in canonical order. ---
  canon = canonical_order(plan)
  em = _em_dense if config.dense_write else _em_sparse
  keys, hist, touched = em(memory, plan.queries[canon], plan.cond_valid[canon],
                           plan.cond_indices[canon], plan.cond_sims[canon], config)
  ages = jnp.where(touched, 0, memory.ages + 1)

  # --- LRU overwrite for the misses, last, so it wins over EM. ---
  oldest = jax.lax.top_k(memory.ages, batch)[1]  # oldest first, ties to the lower index
  target = miss_targets(plan.hit, oldest, n)
  keys = keys.at[target].set(plan.queries, mode='drop')
  values = memory.values.at[target].set(plan.labels.astype(memory.values.dtype), mode='drop')
  ages = ages.at[target].set(0, mode='drop')
  hist = hist.at[target].set(jnp.mean(memory.hist), mode='drop')
  stats = write_stats(plan)
  return Memory(keys=keys, values=values, ages=ages, hist=hist), stats


def all_gather_groups(tree, axis_name: str, num_groups: int = 1):
  """All-gathers the leading (batch) axis of every leaf, keeping groups together.

  The local batch is ``num_groups`` equal consecutive groups (the train step's real then
  fake queries: 2). The gathered batch is group 0 of every replica in replica order, then
  group 1, ... : the order a single device sees the same global batch in.
  """
  def gather(x):
    local = x.shape[0]
    if local % num_groups:
      raise ValueError(f'a local batch of {local} does not split into {num_groups} equal '
                       'groups')
    x = x.reshape((num_groups, local // num_groups) + x.shape[1:])
    x = jax.lax.all_gather(x, axis_name, axis=1, tiled=True)
    return x.reshape((-1,) + x.shape[2:])

  return jax.tree.map(gather, tree)


def all_gather_plan(plan: WritePlan, axis_name: str, num_groups: int = 1) -> WritePlan:
  """The global batch's plan, the same on every replica (see :func:`all_gather_groups`):
  a write under ``pmap`` sees its queries in the order a single device sees the same global
  batch, so LRU assigns the same slots."""
  return all_gather_groups(plan, axis_name, num_groups)


def write(memory: Memory, queries: jax.Array, labels: jax.Array, config: MemoryConfig,
          axis_name: Optional[str] = None, num_groups: int = 1):
  """One memory write (SPEC section 3) with unit queries [B, M] and labels [B] in {0, 1}.

  Returns ``(new_memory, stats)``. With ``axis_name`` (inside ``pmap``/``shard_map``), each
  replica plans its local queries, all-gathers the plans of the global batch
  (:func:`all_gather_plan`, ``num_groups`` as there), and applies the same update: replicas
  stay bit-identical.
  """
  plan = plan_write(memory, queries, labels, config)
  if axis_name is not None:
    plan = all_gather_plan(plan, axis_name, num_groups)
  return apply_write(memory, plan, config)


# --------------------------------------------------------------------------------------
# The generator's side, and diagnostics.


def sample_slots(memory: Memory, rng: jax.Array, num: int) -> jax.Array:
  """Slot indices ``c ~ Categorical(h v / sum(h v))`` (real slots only), shape [num].

  If no slot is real (every one overwritten by fakes), falls back to ``h`` over all slots.
  """
  memory = jax.lax.stop_gradient(memory)
  weight = memory.hist * memory.values.astype(memory.hist.dtype)
  weight = jnp.where(jnp.sum(weight) > 0, weight, memory.hist)
  logits = jnp.where(weight > 0, jnp.log(jnp.where(weight > 0, weight, 1.0)), -jnp.inf)
  return jax.random.categorical(rng, logits, shape=(num,))


def sample_keys(memory: Memory, rng: jax.Array, num: int):
  """``(indices [num], keys [num, M])``: the generator's conditioning ``K_c``."""
  indices = sample_slots(memory, rng, num)
  return indices, jax.lax.stop_gradient(memory.keys)[indices]


def diagnostics(memory: Memory, stats: Optional[WriteStats] = None) -> dict[str, jax.Array]:
  """Scalars that say how the memory is used; pure, cheap (O(N)), jittable.

  ``effective_slots`` is exp(entropy of h / sum h), the number of equally used slots with
  the same entropy; ``effective_real_slots`` the same over the real slots' histogram, from
  which the generator samples.
  """
  hist = memory.hist.astype(jnp.float32)
  real = memory.values.astype(jnp.float32)

  def effective(weight):
    p = weight / jnp.maximum(jnp.sum(weight), 1e-30)
    entropy = -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0))
    return entropy, jnp.exp(entropy)

  entropy, eff = effective(hist)
  _, eff_real = effective(hist * real)
  out = {
      'real_fraction': jnp.mean(real),
      'slot_entropy': entropy,
      'effective_slots': eff,
      'effective_real_slots': eff_real,
      'mean_age': jnp.mean(memory.ages.astype(jnp.float32)),
      'hist_mass': jnp.sum(hist),
  }
  if stats is not None:
    total = stats.real_hits + stats.real_misses + stats.fake_hits + stats.fake_misses
    out.update({
        'real_hits': stats.real_hits, 'real_misses': stats.real_misses,
        'fake_hits': stats.fake_hits, 'fake_misses': stats.fake_misses,
        'hit_rate': (stats.real_hits + stats.fake_hits) / jnp.maximum(total, 1),
    })
  return out
