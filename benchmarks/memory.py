r"""Times the memory's read and write against the bare ``q @ K.T`` matmul on the same inputs.

    python -m benchmarks.memory                      # the three sizes of issue 2
    python -m benchmarks.memory --sizes=4096:256:64:128 --repeats=20

For each (N, M, B, k) it times, in one process and on the same arrays:

* ``matmul``     the bare similarity matmul ``q @ K.T``, [B, M] x [M, N];
* ``read``       :func:`mgan_jax.memory.read` (matmul + top-k + posterior);
* ``write``      :func:`mgan_jax.memory.write` of the same B queries (half real, half fake),
                 memory donated as in the train step;
* ``read+write`` both in one jitted function, as the discriminator step uses them (XLA
                 shares the matmul between them).

and prints the median of ``--repeats`` timed calls after warm-up, with ``read+write /
matmul``. Not a test: run it by hand and record the table in WORKSPACE.md.
"""

import functools
import json
import platform
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from mgan_jax import memory as mm

_SIZES = flags.DEFINE_list(
    'sizes', ['4096:256:64:128', '16384:512:64:256', '262144:512:256:256'],
    'Comma-separated cases, each N:M:B:k.')
_REPEATS = flags.DEFINE_integer('repeats', 10, 'Timed calls per measurement (median taken).')
_JSON = flags.DEFINE_string('json', None, 'Also write the results to this JSON file.')


def _time(fn, *args, repeats):
  """Median wall time of fn(*args) in ms, after two warm-up calls; fn returns its args."""
  for _ in range(2):
    args = fn(*args)
  jax.block_until_ready(args)
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    args = fn(*args)
    jax.block_until_ready(args)
    times.append(time.perf_counter() - start)
  return 1e3 * float(np.median(times))


def bench_case(n, m, b, k, repeats):
  config = mm.MemoryConfig(num_slots=n, key_dim=m, choose_k=k)
  rng = np.random.RandomState(0)
  keys = rng.randn(n, m).astype(np.float32)
  keys /= np.linalg.norm(keys, axis=1, keepdims=True)
  queries = rng.randn(b, m).astype(np.float32)
  queries /= np.linalg.norm(queries, axis=1, keepdims=True)

  def fresh_memory():
    return mm.Memory(keys=jnp.asarray(keys), values=jnp.asarray(rng.randint(0, 2, n), jnp.int32),
                     ages=jnp.asarray(rng.permutation(n), jnp.int32),
                     hist=jnp.asarray(rng.uniform(0.1, 2.0, n), jnp.float32))

  q = jnp.asarray(queries)
  y = jnp.asarray(np.arange(b) % 2, jnp.int32)

  # Each timed function returns what the next call takes, so nothing is computed away and
  # donated buffers are fed back.
  @jax.jit
  def matmul(keys, q):
    return keys, q @ keys.T

  @functools.partial(jax.jit, static_argnums=2)
  def read(memory, q, config):
    return memory, mm.read(memory, q, config).prob_real

  @functools.partial(jax.jit, static_argnums=3, donate_argnums=0)
  def write(memory, q, y, config):
    return mm.write(memory, q, y, config)[0], q, y

  @functools.partial(jax.jit, static_argnums=3, donate_argnums=0)
  def read_write(memory, q, y, config):
    out = mm.read(memory, q, config)
    memory, stats = mm.write(memory, q, y, config)
    return memory, q + 0 * out.prob_real[:, None], y + 0 * stats.real_hits

  kq = jnp.asarray(keys)
  t_matmul = _time(lambda keys, _: matmul(keys, q), kq, None, repeats=repeats)
  t_read = _time(lambda mem, _: read(mem, q, config), fresh_memory(), None, repeats=repeats)
  t_write = _time(lambda mem, q_, y_: write(mem, q_, y_, config), fresh_memory(), q, y,
                  repeats=repeats)
  t_both = _time(lambda mem, q_, y_: read_write(mem, q_, y_, config), fresh_memory(), q, y,
                 repeats=repeats)
  return dict(N=n, M=m, B=b, k=k, matmul_ms=t_matmul, read_ms=t_read, write_ms=t_write,
              read_write_ms=t_both, ratio=t_both / t_matmul)


def main(argv):
  del argv
  device = jax.devices()[0]
  print(f'# device: {device.device_kind} ({jax.default_backend()}), {jax.device_count()} '
        f'device(s), host {platform.processor() or platform.machine()}, jax {jax.__version__}')
  print('| N | M | B | k | matmul ms | read ms | write ms | read+write ms | read+write / matmul |')
  print('|---|---|---|---|---|---|---|---|---|')
  results = []
  for case in _SIZES.value:
    n, m, b, k = (int(x) for x in case.split(':'))
    r = bench_case(n, m, b, k, _REPEATS.value)
    results.append(r)
    print(f"| {n} | {m} | {b} | {k} | {r['matmul_ms']:.2f} | {r['read_ms']:.2f} | "
          f"{r['write_ms']:.2f} | {r['read_write_ms']:.2f} | {r['ratio']:.2f} |", flush=True)
  if _JSON.value:
    with open(_JSON.value, 'w') as f:
      json.dump(dict(device=str(device.device_kind), backend=jax.default_backend(),
                     results=results), f, indent=2)


if __name__ == '__main__':
  app.run(main)
