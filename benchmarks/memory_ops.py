r"""The pieces of a memory read + write, timed one by one on the same inputs.

    python -m benchmarks.memory_ops [--size=16384:512:64:256] [--repeats=20]

Times (jitted, median): the similarity matmul q @ K.T, lax.top_k over the [B, N] scores,
argmax (a variadic reduce), max + first index (what plan_write uses for the hit test), one
elementwise pass over K, and the dense write's pulls Gamma^T Q ([N, B] x [B, M]). These are
what bound read + write on a machine (WORKSPACE.md). Not a test.
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
      ('dense pulls Gamma^T Q, [N, B] x [B, M]', _ms(lambda g, qq: g.T @ qq, gamma, q)),
  ]
  print(f'# N={n} M={m} B={b} k={k}; device {jax.devices()[0].device_kind}, jax {jax.__version__}')
  print('| op | ms |')
  print('|---|---|')
  for name, ms in rows:
    print(f'| {name} | {ms:.1f} |')


if __name__ == '__main__':
  app.run(main)
