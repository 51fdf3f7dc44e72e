"""The EM part of the order-free write rules (SPEC 3, "Batches"), on the slots of one device.

A write's plan holds, for each query ``b`` of the global batch (in canonical order), its
``S_y(b)`` as ``k`` entries: a slot, ``K_i . q_b`` and ``h_i`` from before the write, and
whether the entry takes part (a hit query's slot of its label). A rule turns the entries
into new keys and histograms of the slots they name. Written once, against :class:`Slots`,
which says where the per-slot sums live:

* :func:`dense_slots` — every local slot; the sums over queries are column sums of a
  ``[B, n]`` matrix and one ``[n, B] x [B, M]`` matmul (deterministic: no two entries of a
  row share a slot, so the scatter never collides);
* :func:`sparse_slots` — one segment per touched slot; the ``B k`` entries sorted by slot
  (stably, so within a slot in batch order) and summed with segment sums: the cost does not
  grow with ``n``.

Entries whose slot another device owns (a sharded memory) take part in every softmax but
are summed nowhere here: ``column`` is ``n`` for them.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp

from mgan_jax.memory.types import MemoryConfig, normalize


def masked_softmax(logits: jax.Array, valid: jax.Array) -> jax.Array:
  """Softmax over the valid entries of each row; a row with none gets all-zero weights."""
  logits = jnp.where(valid, logits, -jnp.inf)
  shift = jnp.max(jnp.where(valid, logits, 0.0), axis=1, keepdims=True)
  weights = jnp.where(valid, jnp.exp(logits - shift), 0.0)
  return weights / jnp.maximum(jnp.sum(weights, axis=1, keepdims=True), 1e-30)


@dataclasses.dataclass(frozen=True)
class Slots:
  """Per-slot arrays of the touched slots, and sums of per-entry weights into them."""

  gather: Callable    # [n, ...] local array -> [s, ...] in slot space
  scatter: Callable   # (local [n, ...], slot space [s, ...]) -> local, touched slots replaced
  entry: jax.Array    # [B, k] each entry's place in slot space (s: not summed here)
  is_slot: jax.Array  # [s] bool, a place that is a touched local slot
  sum: Callable       # weights [B, k] -> [s]
  pull: Callable      # (weights [B, k], queries [B, M]) -> [s, M], sum_b w_bi q_b
  touched: jax.Array  # [n] bool, the local slots some entry updates
  at_entries: Callable = None   # [s] -> [B, k], each entry's value (0: not summed here)
  entry_sims: Callable = None   # (keys [s, M], queries [B, M]) -> [B, k], K_entry . q_b

  def __post_init__(self):
    if self.at_entries is None:
      object.__setattr__(self, 'at_entries', lambda x: _at_entries(x, self.entry))
    if self.entry_sims is None:
      object.__setattr__(self, 'entry_sims', lambda keys, q: jnp.einsum(
          'bkm,bm->bk', _at_entries(keys, self.entry), q))


def dense_slots(column: jax.Array, n: int, in_slot_order: bool = False) -> Slots:
  """Slot space = the ``n`` local slots; ``column [B, k]``: local slot, or ``n``.

  ``in_slot_order``: entry ``j`` of every row is slot ``j`` or ``n`` (S_y covers every slot:
  :func:`~mgan_jax.memory.ops.top_k` returns them in slot order). The ``[B, n]`` matrices
  are then the weights themselves, masked: no scatter (on XLA:CPU, a scatter of ``B n``
  entries costs several times the whole EM).
  """
  batch = column.shape[0]
  rows = jnp.arange(batch)[:, None]
  if in_slot_order:
    if column.shape[1] != n:
      raise ValueError(f'in_slot_order needs one entry per slot: {column.shape[1]} != {n}')
    own = column == jnp.arange(n, dtype=column.dtype)[None, :]
    touched = jnp.any(own, axis=0)
  else:
    touched = jnp.zeros((n,), bool).at[column].set(True, mode='drop')

  def matrix(w):
    if in_slot_order:
      return jnp.where(own, w, 0.0).astype(jnp.float32)
    return jnp.zeros((batch, n), jnp.float32).at[rows, column].set(w, mode='drop')

  extra = {}
  if in_slot_order:  # entry j of a row is slot j: broadcasts and a matmul, not gathers
    extra = dict(at_entries=lambda x: jnp.where(own, x[None, :], 0.0),
                 entry_sims=lambda keys, q: jnp.where(own, q @ keys.T, 0.0))
  return Slots(
      gather=lambda x: x,
      scatter=lambda full, x: jnp.where(touched.reshape((n,) + (1,) * (x.ndim - 1)), x, full),
      entry=column, is_slot=touched,
      sum=lambda w: jnp.sum(matrix(w), axis=0),
      pull=lambda w, q: matrix(w).T @ q,
      touched=touched, **extra)


def sparse_slots(column: jax.Array, n: int) -> Slots:
  """Slot space = one segment per distinct slot of ``column [B, k]`` (``n``: none)."""
  batch, k = column.shape
  entries = batch * k
  slot = column.reshape(entries)
  sorted_slot, order = jax.lax.sort((slot, jnp.arange(entries, dtype=jnp.int32)),
                                    num_keys=1, is_stable=True)
  first = jnp.concatenate([jnp.ones((1,), bool), sorted_slot[1:] != sorted_slot[:-1]])
  segment = jnp.cumsum(first.astype(jnp.int32)) - 1                       # sorted layout
  segment_slot = jnp.full((entries,), n, jnp.int32).at[
      jnp.where(first, segment, entries)].set(sorted_slot, mode='drop')    # n: no slot
  entry = jnp.zeros((entries,), jnp.int32).at[order].set(segment).reshape(batch, k)
  is_slot = segment_slot < n
  entry = jnp.where(column < n, entry, entries)
  touched = jnp.zeros((n,), bool).at[segment_slot].set(True, mode='drop')

  def segment_sum(x):
    return jax.ops.segment_sum(x, segment, num_segments=entries, indices_are_sorted=True)

  def sorted_weights(w):
    return w.reshape(entries)[order]

  return Slots(
      gather=lambda x: x.at[segment_slot].get(mode='fill', fill_value=0),
      scatter=lambda full, x: full.at[segment_slot].set(x, mode='drop'),
      entry=entry, is_slot=is_slot,
      sum=lambda w: segment_sum(sorted_weights(w)),
      pull=lambda w, q: segment_sum(sorted_weights(w)[:, None] * q[order // k]),
      touched=touched)


def _at_entries(x: jax.Array, entry: jax.Array) -> jax.Array:
  """``x[entry]`` with 0 where the entry is not summed here."""
  return x.at[entry].get(mode='fill', fill_value=0)


def batched(slots: Slots, keys, hist, queries, valid, sims, ent_hist, config: MemoryConfig,
            psum: Callable):
  """The ``batched`` rule: T incremental-EM iterations over the batch's sufficient
  statistics (SPEC 3). Returns the local ``(keys, hist)``.

  ``sims``/``ent_hist`` [B, k] are ``K_i . q_b`` and ``h_i`` per entry from before the
  write; later iterations recompute them from the slots (each device the entries it owns,
  ``psum`` adds the others').
  """
  kappa, alpha, beta = config.write_kappa, config.alpha, config.beta
  mine = slots.entry < slots.is_slot.shape[0]

  def iteration(sims_e, hist_e, keys_t, hist_t, gamma_prev):
    gamma = masked_softmax(kappa * sims_e + jnp.log(hist_e + beta), valid)
    delta = gamma - gamma_prev
    mass = slots.sum(delta)                                     # sum_b dgamma_bi
    pull = slots.pull(delta, queries) - mass[:, None] * keys_t  # sum_b dgamma_bi (q_b - K_i)
    hist_t = hist_t + mass
    safe = jnp.where(slots.is_slot, hist_t, 1.0)[:, None]
    keys_t = jnp.where(slots.is_slot[:, None], normalize(keys_t + pull / safe), keys_t)
    return keys_t, hist_t, gamma

  def later(_, carry):
    keys_t, hist_t, _ = carry
    sims_e = slots.entry_sims(keys_t, queries)
    hist_e = slots.at_entries(hist_t)
    return iteration(psum(jnp.where(mine, sims_e, 0.0)), psum(jnp.where(mine, hist_e, 0.0)),
                     *carry)

  keys0, hist0 = slots.gather(keys), alpha * slots.gather(hist)
  carry = iteration(sims, alpha * ent_hist, keys0, hist0, jnp.zeros(valid.shape, jnp.float32))
  keys_t, hist_t, _ = jax.lax.fori_loop(1, config.em_steps, later, carry)
  return slots.scatter(keys, keys_t), slots.scatter(hist, hist_t)


def proposals(slots: Slots, keys, hist, queries, valid, sims, ent_hist, config: MemoryConfig,
              psum: Callable):
  """The ``proposals`` rule (SPEC 3): each hit query proposes, for each slot of its S_y,

      p_bi = normalize((1 - r_bi) K_i + r_bi q_b),   r_bi = gamma_bi / (alpha h_i + 1),

  and a touched slot takes ``K_i <- normalize(sum_b p_bi)``, ``h_i <- alpha h_i + 1``
  (``hist_step='responsibility'``: ``h_i <- alpha h_i + mean_b gamma_bi`` over the hit
  queries whose S_y holds i).

  The proposals are never formed: since ``|(1-r) K + r q|^2 = (1-r)^2 |K|^2 + r^2 |q|^2
  + 2 r (1-r) K.q``, the sum is ``K_i sum_b (1-r_bi)/n_bi + sum_b (r_bi/n_bi) q_b`` — two
  sums of the same kind as the batched rule's.
  """
  del psum  # one step from the plan's entries: nothing to recompute
  kappa, alpha, beta = config.write_kappa, config.alpha, config.beta
  gamma = masked_softmax(kappa * sims + jnp.log(alpha * ent_hist + beta), valid)
  rate = gamma / (alpha * ent_hist + 1.0)
  keys_s = slots.gather(keys)
  key_sq = slots.at_entries(jnp.sum(jnp.square(keys_s), axis=1))
  query_sq = jnp.sum(jnp.square(queries), axis=1, keepdims=True)
  norm_sq = (jnp.square(1.0 - rate) * key_sq + jnp.square(rate) * query_sq
             + 2.0 * rate * (1.0 - rate) * sims)
  inv = jnp.where(valid, 1.0 / jnp.maximum(jnp.sqrt(jnp.maximum(norm_sq, 0.0)), 1e-12), 0.0)
  keep = slots.sum((1.0 - rate) * inv)
  new_keys = normalize(keep[:, None] * keys_s + slots.pull(rate * inv, queries))
  new_keys = jnp.where(slots.is_slot[:, None], new_keys, keys_s)
  if config.hist_step == 'responsibility':  # alpha h + the mean gamma of the touching queries
    touching = slots.sum(valid.astype(jnp.float32))
    step = slots.sum(gamma) / jnp.maximum(touching, 1.0)
  else:
    step = 1.0
  new_hist = alpha * slots.gather(hist) + step
  return slots.scatter(keys, new_keys), slots.scatter(hist, new_hist)


KERNELS = {'batched': batched, 'proposals': proposals}
