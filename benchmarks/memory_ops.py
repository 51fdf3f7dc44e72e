r"""The pieces of a memory read + write, timed one by one on the same inputs.

    python -m benchmarks.memory_ops [--size=16384:512:64:256] [--repeats=20]

Times (jitted, median): the similarity matmul q @ K.T, lax.top_k over the [B, N] scores,
argmax (a variadic reduce), max + first index (what plan_write uses for the hit test), one
elementwise pass over K, a normalisation of K (what an EM that touches every slot must at
least do: read and rewrite K), the dense write's pulls Gamma^T Q ([N, B] x [B, M]), and a
sort-free selection of the k-th largest score per row (32 counting passes over the scores,
bit by bit: what a top-k without a sort would cost). These are what bound read + write on a
machine (WORKSPACE.md, issue 16). Not a test.
"""

import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from mgan_jax import memory as mm

_SIZE = flags.DEFINE_string('size', '16384:512:64:256', 'N:M:B:k.')
_REPEATS = flags.DEFINE_integer('repeats', 20, 'Timed calls (median).')


def _ms(fn, *args):
  fn = jax.jit(fn)
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(_REPEATS.value):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t0)
  return 1e3 * float(np.median(times))


def kth_largest_bits(scores, k):
  """The k-th largest score of each row as sortable uint32 bits, by 32 counting passes."""
  bits = jax.lax.bitcast_convert_type(scores, jnp.uint32)
  key = jnp.where((bits >> 31) == 1, ~bits, bits | jnp.uint32(0x80000000))

  def bit(i, prefix):
    candidate = prefix | (jnp.uint32(1) << (jnp.uint32(31) - i.astype(jnp.uint32)))
    count = jnp.sum(key >= candidate[:, None], axis=-1, dtype=jnp.int32)
    return jnp.where(count >= k, candidate, prefix)

  return jax.lax.fori_loop(0, 32, bit, jnp.zeros(scores.shape[:1], jnp.uint32), unroll=True)


def main(argv):
  del argv
  n, m, b, k = (int(v) for v in _SIZE.value.split(':'))
  rng = np.random.RandomState(0)
  keys = jnp.asarray(rng.randn(n, m).astype(np.float32))
  q = jnp.asarray(rng.randn(b, m).astype(np.float32))
  scores = q @ keys.T
  gamma = jnp.asarray(rng.rand(b, n).astype(np.float32))
  rows = [
      ('q @ K.T (the matmul)', _ms(lambda kk, qq: qq @ kk.T, keys, q)),
      (f'lax.top_k(scores, {k})', _ms(lambda s: jax.lax.top_k(s, k), scores)),
      ('argmax(scores) (variadic reduce)', _ms(lambda s: jnp.argmax(s, -1), scores)),
      ('max + first index (memory.top_c, c=1)', _ms(lambda s: mm.top_c(s, 1), scores)),
      ('one elementwise pass over K', _ms(lambda kk: kk + 1.0, keys)),
      ('normalise K (read and rewrite every key)',
       _ms(lambda kk: kk / jnp.linalg.norm(kk, axis=1, keepdims=True), keys)),
      (f'k-th largest score, 32 counting passes (k={k})',
       _ms(lambda s: kth_largest_bits(s, k), scores)),
      ('dense pulls Gamma^T Q, [N, B] x [B, M]', _ms(lambda g, qq: g.T @ qq, gamma, q)),
  ]
  print(f'# N={n} M={m} B={b} k={k}; device {jax.devices()[0].device_kind}, jax {jax.__version__}')
  print('| op | ms |')
  print('|---|---|')
  for name, ms in rows:
    print(f'| {name} | {ms:.1f} |')


if __name__ == '__main__':
  app.run(main)
