"""How the memory's operations see the devices: one object, so each operation is written once.

Three layouts, one code path:

* ``Collectives()`` — one device (or no named axis): every method is the identity.
* ``Collectives(batch_axis=AXIS)`` — data parallel with the whole memory on every replica:
  each replica plans its own queries and the small plans are all-gathered, so every replica
  applies the same update to a bit-identical memory.
* ``Collectives(batch_axis=AXIS, slot_axis=AXIS)`` — the slots split over the devices of the
  axis (device ``d`` of ``D`` holds slots ``[d n, (d + 1) n)``, ``n = N / D``): the global
  batch's queries are gathered once, every device scores them against its own slots, the
  ``D c`` local candidates of a top-c are merged to the global top-c (ties to the lower
  global slot index, as ``lax.top_k`` on the whole memory), and each device writes only the
  slots it owns.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class Collectives:
  """The named axes a memory operation runs under (both None: one device)."""

  batch_axis: Optional[str] = None  # the batch is split over this axis (None: not split,
  #                                   or already the global batch on every device)
  slot_axis: Optional[str] = None   # the slots are split over this axis

  def __post_init__(self):
    if self.batch_axis not in (None, self.slot_axis) and self.slot_axis is not None:
      raise ValueError('a memory whose slots are split over an axis takes its batch split '
                       f'over the same axis (or not split); got slot_axis={self.slot_axis!r}, '
                       f'batch_axis={self.batch_axis!r}')

  @classmethod
  def make(cls, axis_name: Optional[str] = None, sharded: bool = False) -> 'Collectives':
    """The collectives of the public functions' ``axis_name`` and ``sharded`` arguments."""
    if sharded and axis_name is None:
      raise ValueError('a sharded memory needs the axis its slots are split over (axis_name)')
    return cls(batch_axis=axis_name, slot_axis=axis_name if sharded else None)

  @property
  def sharded(self) -> bool:
    return self.slot_axis is not None

  def without_batch_split(self) -> 'Collectives':
    """The same slots, for a batch that is already the global one on every device."""
    return Collectives(batch_axis=None, slot_axis=self.slot_axis)

  # --- Slots. ---

  def num_shards(self) -> int:
    return 1 if self.slot_axis is None else jax.lax.psum(1, self.slot_axis)

  def slot_offset(self, local_slots: int):
    """The global index of this device's first slot."""
    if self.slot_axis is None:
      return 0
    return jax.lax.axis_index(self.slot_axis) * local_slots

  def psum(self, x):
    """Sum over the slot shards (a sum over the whole memory of per-device sums)."""
    return x if self.slot_axis is None else jax.lax.psum(x, self.slot_axis)

  def logsumexp(self, x: jax.Array) -> jax.Array:
    """``log sum exp`` over the last axis of a per-slot array [..., n] and over the slot
    shards: the whole memory's logsumexp on every device. Rows whose entries are all -inf
    give -inf."""
    local = jax.nn.logsumexp(x, axis=-1)
    if self.slot_axis is None:
      return local
    top = jax.lax.pmax(jax.lax.stop_gradient(local), self.slot_axis)
    top = jnp.where(jnp.isfinite(top), top, 0.0)
    return top + jnp.log(jax.lax.psum(jnp.exp(local - top), self.slot_axis))

  def gather_slots(self, x):
    """A per-slot array of the whole memory, [N, ...], from every device's [n, ...]."""
    return x if self.slot_axis is None else jax.lax.all_gather(x, self.slot_axis, tiled=True)

  def merge_top(self, scores: jax.Array, payloads: Sequence[jax.Array], c: int):
    """The global top-c of every device's local top candidates ``scores [B, c']``, with the
    payloads (global slot indices, values, ...) that go with them."""
    if self.slot_axis is None:
      return scores[:, :c], [p[:, :c] for p in payloads]
    gathered = jax.lax.all_gather(scores, self.slot_axis, axis=1, tiled=True)  # [B, D c']
    top, pos = jax.lax.top_k(gathered, c)

    def take(p):  # payloads may carry trailing dimensions (keys)
      p = jax.lax.all_gather(p, self.slot_axis, axis=1, tiled=True)
      return jnp.take_along_axis(p, pos.reshape(pos.shape + (1,) * (p.ndim - 2)), 1)

    return top, [take(p) for p in payloads]

  # --- Batch. ---

  def gather_batch(self, tree, num_groups: int = 1):
    """The global batch on every device, in the order one device sees it (see
    :func:`all_gather_groups`); the identity when the batch is not split."""
    if self.batch_axis is None:
      return tree
    return all_gather_groups(tree, self.batch_axis, num_groups)

  def my_rows(self, x: jax.Array, local_batch: int) -> jax.Array:
    """This device's rows of an array over the global batch (gathered with one group)."""
    if self.batch_axis is None:
      return x
    start = jax.lax.axis_index(self.batch_axis) * local_batch
    return jax.lax.dynamic_slice_in_dim(x, start, local_batch)


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


def shard(memory, num_shards: int):
  """[N, ...] -> [num_shards, N / num_shards, ...] (host side, as pmap's input)."""
  n = memory.keys.shape[0]
  if n % num_shards:
    raise ValueError(f'num_slots={n} does not split over {num_shards} devices')
  return jax.tree.map(lambda x: x.reshape((num_shards, n // num_shards) + x.shape[1:]), memory)


def unshard(memory):
  """[num_shards, n, ...] -> [num_shards * n, ...]."""
  return jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), memory)
