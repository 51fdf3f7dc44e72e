"""The memory's config and pytrees, its initialisation, and the checks of its inputs.

The memory ``M = (K, v, a, h)`` of SPEC.md section 1 is a :class:`Memory` pytree:

* ``keys``   ``K[N, M]``  unit mean directions of a von Mises-Fisher mixture (float32);
* ``values`` ``v[N]``     1 if the slot holds real data, 0 if fake (int32);
* ``ages``   ``a[N]``     writes since the slot was last written (int32);
* ``hist``   ``h[N]``     how much data the slot has absorbed (float32).

Hyperparameters live in the frozen :class:`MemoryConfig`, which is hashable and is passed as
a static argument under ``jax.jit``.
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

KEY_INITS = ('zeros', 'random')
WRITE_IMPLS = ('auto', 'dense', 'sparse')
WRITE_RULES = ('batched', 'proposals', 'sequential')
HIST_STEPS = ('count', 'responsibility')


@dataclasses.dataclass(frozen=True)
class MemoryConfig:
  """Hyperparameters of the memory (SPEC sections 2-4), validated when made.

  Attributes:
    num_slots: N, the number of memory slots.
    key_dim: M, the dimension of keys and queries.
    choose_k: k, the size of the read's top-k set S (and of S_y unless ``write_k`` is set).
    write_k: the size of the write's S_y; 0 means the same as ``choose_k`` (SPEC 3). A read
      over every slot (``choose_k = num_slots``: every read passes a gradient) with a top-k
      write keeps the write local: with ``S_y`` = every slot of the label, one hit resets
      the ages of all of them and the LRU has no oldest slot to choose (it takes the lowest
      indices, the same slots every write).
    alpha: decay of a slot's histogram before an EM update, in (0, 1].
    beta: smoothing inside log(h + beta), > 0.
    kappa: vMF concentration of the read and of the hit test, > 0.
    kappa_write: the concentration of the write's S_y selection and E-step (SPEC 3,
      "Batches"); 0 means the same as ``kappa``. A large value lets EM split a key into
      clusters (soft vMF EM cannot split one below |mean q| / lambda_max).
    write_rule: how a batch of queries is written (SPEC 3): 'batched' (one EM step over the
      batch's sufficient statistics; the first design, which collapses in training),
      'proposals' (the authors' per-query step with their bounded histogram, made
      order-free; needs em_steps = 1) or 'sequential' (the paper's per-sample rule, query
      after query: the faithful reference, slow on big batches).
    hist_step: the ``proposals`` rule's histogram step for a touched slot: 'count'
      (``h <- alpha h + 1``, the authors' step, SPEC 3) or 'responsibility'
      (``h <- alpha h + mean_b gamma_bi`` over the hit queries whose S_y holds the slot:
      the paper's per-sample M-step ``h <- alpha h + gamma`` when one query touches it).
      Both are bounded by 1 / (1 - alpha); with 'responsibility' a slot that queries pick
      first keeps h near that bound while the slots at the edge of their S_y decay, so
      ``h`` ranks use again and the generator's ``c ~ h v`` favours the slots the data
      uses. Measured on fashion (WORKSPACE results log, seed 0): the prior then feeds back
      and the real histogram's mass collapses onto ~4 slots (FID 19.42 at step 2,000
      against 10.14 with 'count'). The other rules' histograms already follow the
      responsibilities: 'count' only.
    em_steps: T, incremental-EM iterations per write, >= 1.
    correct_in_top: a query is a hit when one of the this-many most probable slots of S
      holds its label; 1 <= correct_in_top <= choose_k.
    init_hist: h of every slot at initialisation, > 0.
    key_init: 'zeros' (the reference code) or 'random' (random unit keys; needs an rng).
    write_impl: how the EM sums are formed; all give the same memory up to float rounding.
      'dense' scatters the responsibilities into a [B, N] matrix and forms the pulls
      ``Gamma^T Q`` as one matmul (best on TPU/GPU and for N up to ~64k); 'sparse' sums over
      the B*k (query, slot) pairs with segment sums (cost independent of N); 'auto' picks
      'dense' when the slots of one device are at most 64 times the write's k.
    topk: 'exact' (lax.top_k, ties to the lower index) or 'approx' (lax.approx_max_k with
      recall target ``approx_recall``: fast on TPU; on CPU XLA computes it exactly).
    approx_recall: the recall target of 'approx', in (0, 1].
  """

  num_slots: int = 4096
  key_dim: int = 256
  choose_k: int = 128
  write_k: int = 0
  alpha: float = 0.5
  beta: float = 1e-8
  kappa: float = 1.0
  kappa_write: float = 0.0
  write_rule: str = 'batched'
  hist_step: str = 'count'
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

    for name in ('num_slots', 'key_dim', 'choose_k', 'write_k', 'em_steps', 'correct_in_top'):
      value = getattr(self, name)
      need(isinstance(value, (int, np.integer)) and not isinstance(value, bool),
           f'{name} must be an integer, got {value!r}')
    for name in ('alpha', 'beta', 'kappa', 'kappa_write', 'init_hist', 'approx_recall'):
      value = getattr(self, name)
      need(isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
           and math.isfinite(value), f'{name} must be a finite number, got {value!r}')
    need(self.num_slots >= 1, f'num_slots (N) must be >= 1, got {self.num_slots}')
    need(self.key_dim >= 1, f'key_dim (M) must be >= 1, got {self.key_dim}')
    need(1 <= self.choose_k <= self.num_slots,
         f'choose_k (k) must satisfy 1 <= k <= num_slots (N); got k={self.choose_k}, '
         f'N={self.num_slots}')
    need(self.write_k == 0 or 1 <= self.write_k <= self.num_slots,
         f'write_k must satisfy 1 <= write_k <= num_slots (N) (or 0: the same as choose_k); '
         f'got write_k={self.write_k}, N={self.num_slots}')
    need(1 <= self.correct_in_top <= self.choose_k,
         f'correct_in_top must satisfy 1 <= correct_in_top <= choose_k; got '
         f'{self.correct_in_top} with choose_k={self.choose_k}')
    need(self.em_steps >= 1, f'em_steps (T) must be >= 1, got {self.em_steps}')
    need(0.0 < self.alpha <= 1.0, f'alpha must be in (0, 1], got {self.alpha}')
    need(self.beta > 0.0, f'beta must be > 0, got {self.beta}')
    need(self.kappa > 0.0, f'kappa must be > 0, got {self.kappa}')
    need(self.kappa_write >= 0.0,
         f'kappa_write must be > 0 (or 0: the same as kappa), got {self.kappa_write}')
    need(self.init_hist > 0.0, f'init_hist must be > 0, got {self.init_hist}')
    need(self.key_init in KEY_INITS,
         f'key_init must be one of {KEY_INITS}, got {self.key_init!r}')
    need(self.write_rule in WRITE_RULES,
         f'write_rule must be one of {WRITE_RULES}, got {self.write_rule!r}')
    need(self.write_rule != 'proposals' or self.em_steps == 1,
         f"write_rule='proposals' takes one EM step (the authors' per-query step); got "
         f'em_steps={self.em_steps}: use em_steps=1, or the batched or sequential rule')
    need(self.hist_step in HIST_STEPS,
         f'hist_step must be one of {HIST_STEPS}, got {self.hist_step!r}')
    need(self.hist_step == 'count' or self.write_rule == 'proposals',
         f"hist_step={self.hist_step!r} is a step of the 'proposals' rule; the "
         f'{self.write_rule!r} rule\'s histogram follows its own EM: use hist_step=\'count\'')
    need(self.write_impl in WRITE_IMPLS,
         f'write_impl must be one of {WRITE_IMPLS}, got {self.write_impl!r}')
    need(self.topk in ('exact', 'approx'), f"topk must be 'exact' or 'approx', got {self.topk!r}")
    need(0.0 < self.approx_recall <= 1.0,
         f'approx_recall must be in (0, 1], got {self.approx_recall!r}')

  @property
  def write_kappa(self) -> float:
    """The write's concentration: ``kappa_write``, or ``kappa`` when that is 0."""
    return self.kappa_write or self.kappa

  @property
  def write_top_k(self) -> int:
    """The size of the write's ``S_y``: ``write_k``, or ``choose_k`` when that is 0."""
    return self.write_k or self.choose_k

  def dense_write(self, local_slots: Optional[int] = None) -> bool:
    """Whether the EM sums use the dense [B, n] form for ``n = local_slots`` (default N)."""
    if self.write_impl == 'auto':
      return (local_slots or self.num_slots) <= 64 * self.write_top_k
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

  queries: jax.Array       # [B, M] float32
  labels: jax.Array        # [B] int32, 1 real / 0 fake
  hit: jax.Array           # [B] bool, the correctness test of SPEC section 3.1
  cond_indices: jax.Array  # [B, k] int32, S_y (global slot indices)
  cond_valid: jax.Array    # [B, k] bool, entry of S_y that takes part in EM (hit and v = y)
  cond_sims: jax.Array     # [B, k] float32, K_i . q for i in S_y
  cond_hist: jax.Array     # [B, k] float32, h_i for i in S_y


@flax.struct.dataclass
class WriteStats:
  """What one write did (over the global batch under ``pmap``).

  ``split_threshold`` is ``|mean q| / lambda_max`` of the real queries' tangent covariance
  (SPEC 3): soft vMF EM can split one key into clusters of these queries only when the
  write's kappa exceeds it (``memory_dynamics/REPORT.md``).
  """

  real_hits: jax.Array
  real_misses: jax.Array
  fake_hits: jax.Array
  fake_misses: jax.Array
  split_threshold: jax.Array


# --------------------------------------------------------------------------------------
# Construction and validation.


def normalize(x: jax.Array, axis: int = -1, eps: float = 1e-12) -> jax.Array:
  """``x / |x|`` along ``axis``; a zero vector stays zero."""
  norm = jnp.sqrt(jnp.sum(jnp.square(x), axis=axis, keepdims=True))
  return x / jnp.maximum(norm, eps)


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


def _is_concrete(x: Any) -> bool:
  return not isinstance(x, jax.core.Tracer)


def check_memory(memory: Memory, config: MemoryConfig, num_shards: int = 1) -> None:
  """Raises ValueError if the memory's shapes do not match the config (``num_shards``: the
  memory is one of that many equal parts of the slots)."""
  n, m = config.num_slots // num_shards, config.key_dim
  expected = {'keys': (n, m), 'values': (n,), 'ages': (n,), 'hist': (n,)}
  for name, shape in expected.items():
    got = tuple(getattr(memory, name).shape)
    if got != shape:
      part = f' (one of {num_shards} shards)' if num_shards > 1 else ''
      raise ValueError(f'memory.{name} has shape {got}, but the config wants {shape}{part} '
                       f'(num_slots={config.num_slots}, key_dim={m})')


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
