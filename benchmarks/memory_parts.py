r"""Times the bare matmul q K^T, a memory write's two parts (the plan, its application), the
whole write and the read, each jitted alone, at one size and rule; the minimum of
``--repeats`` calls, and (read + write) / matmul.

    python -m benchmarks.memory_parts --slots=4096 --key_dim=16 --batch=128 --k=4096 \
        --write_rule=proposals

The minimum, not the median: on a shared 2-core machine the median of these ~1-20 ms calls
moved by 2x between identical runs, the minimum by ~20%. To compare two versions of the
code, run it in both checkouts alternately, several times. Not a test.
"""

import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from mgan_jax import memory as mm
from mgan_jax.memory import ops

_N = flags.DEFINE_integer('slots', 4096, 'N.')
_M = flags.DEFINE_integer('key_dim', 16, 'M.')
_B = flags.DEFINE_integer('batch', 128, 'Queries per write (half real, half fake).')
_K = flags.DEFINE_integer('k', 4096, 'choose_k (the write uses the same).')
_RULE = flags.DEFINE_enum('write_rule', 'proposals', ['batched', 'proposals', 'sequential'],
                          'The write rule.')
_KAPPA = flags.DEFINE_float('kappa', 10.0, 'The read (and write) concentration.')
_REPEATS = flags.DEFINE_integer('repeats', 100, 'Timed calls per function.')


def min_ms(fn, *args, repeats=100):
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return 1000 * min(times)


def main(argv):
  del argv
  n, m, b = _N.value, _M.value, _B.value
  cfg = mm.MemoryConfig(num_slots=n, key_dim=m, choose_k=_K.value, write_rule=_RULE.value,
                        kappa=_KAPPA.value)
  rng = np.random.RandomState(0)
  keys = rng.randn(n, m).astype(np.float32)
  keys /= np.linalg.norm(keys, axis=1, keepdims=True)
  q = rng.randn(b, m).astype(np.float32)
  q /= np.linalg.norm(q, axis=1, keepdims=True)
  memory = mm.Memory(keys=jnp.asarray(keys), values=jnp.asarray(rng.randint(0, 2, n), jnp.int32),
                     ages=jnp.asarray(rng.permutation(n), jnp.int32),
                     hist=jnp.asarray(rng.uniform(0.1, 2.0, n), jnp.float32))
  y = jnp.asarray(np.arange(b) % 2, jnp.int32)
  q = jnp.asarray(q)
  plan = jax.jit(lambda mem, q, y: ops.plan_write(mem, q, y, cfg))
  apply = jax.jit(lambda mem, plan: ops.apply_write(mem, plan, cfg)[0])
  write = jax.jit(lambda mem, q, y: mm.write(mem, q, y, cfg)[0])
  read = jax.jit(lambda mem, q: mm.read(mem, q, cfg).prob_real)
  r = _REPEATS.value
  matmul = jax.jit(lambda keys, q: q @ keys.T)
  times = dict(matmul=min_ms(matmul, memory.keys, q, repeats=r),
               plan=min_ms(plan, memory, q, y, repeats=r),
               apply=min_ms(apply, memory, plan(memory, q, y), repeats=r),
               write=min_ms(write, memory, q, y, repeats=r),
               read=min_ms(read, memory, q, repeats=r))
  times['read+write / matmul'] = (times['read'] + times['write']) / times['matmul']
  print(f'N={n} M={m} B={b} k={_K.value} {_RULE.value}: '
        + ' '.join(f'{k} {v:.2f}' for k, v in times.items()) + ' ms (min of '
        f'{r}; {jax.devices()[0].device_kind})')


if __name__ == '__main__':
  app.run(main)
