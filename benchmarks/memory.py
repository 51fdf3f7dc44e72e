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

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.timing import median_ms
from mgan_jax import memory as mm

_SIZES = flags.DEFINE_list(
    'sizes', ['4096:256:64:128', '16384:512:64:256', '262144:512:256:256'],
    'Comma-separated cases, each N:M:B:k.')
_REPEATS = flags.DEFINE_integer('repeats', 10, 'Timed calls per measurement (median taken).')
_IMPLS = flags.DEFINE_list('write_impl', ['auto'],
                           'MemoryConfig.write_impl values to time: auto, dense, sparse.')
_RULES = flags.DEFINE_list('write_rule', ['batched'],
                           'MemoryConfig.write_rule values to time: batched, proposals, '
                           'sequential (kappa_write = 10 for the last two, as the study uses).')
_JSON = flags.DEFINE_string('json', None, 'Also write the results to this JSON file.')


def bench_case(n, m, b, k, repeats, write_impl='auto', write_rule='batched'):
  config = mm.MemoryConfig(num_slots=n, key_dim=m, choose_k=k, write_impl=write_impl,
                           write_rule=write_rule,
                           kappa_write=0.0 if write_rule == 'batched' else 10.0)
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
  memory = fresh_memory()

  # Constant inputs are closed over as arguments, never copied; a written memory is fed
  # back into the next call with its buffers donated, as in the train step.
  matmul = jax.jit(lambda keys, q: q @ keys.T)
  read = jax.jit(lambda memory, q: mm.read(memory, q, config).prob_real)
  write = jax.jit(lambda memory, q, y: mm.write(memory, q, y, config), donate_argnums=0)

  @functools.partial(jax.jit, donate_argnums=0)
  def read_write(memory, q, y):
    out = mm.read(memory, q, config)
    memory, stats = mm.write(memory, q, y, config)
    return memory, (out.prob_real, stats)

  t_matmul = median_ms(lambda s: matmul(memory.keys, q), None, repeats)
  t_read = median_ms(lambda s: read(memory, q), None, repeats)
  t_write = median_ms(lambda s: write(s[0], q, y), (fresh_memory(), None), repeats)
  t_both = median_ms(lambda s: read_write(s[0], q, y), (fresh_memory(), None), repeats)
  return dict(N=n, M=m, B=b, k=k, write_impl=write_impl, write_rule=write_rule,
              dense=config.dense_write(),
              matmul_ms=t_matmul, read_ms=t_read, write_ms=t_write, read_write_ms=t_both,
              ratio=t_both / t_matmul)


def main(argv):
  del argv
  device = jax.devices()[0]
  print(f'# device: {device.device_kind} ({jax.default_backend()}), {jax.device_count()} '
        f'device(s), host {platform.processor() or platform.machine()}, jax {jax.__version__}')
  print('| N | M | B | k | rule | write | matmul ms | read ms | write ms | read+write ms | '
        'read+write / matmul |')
  print('|---|---|---|---|---|---|---|---|---|---|---|')
  results = []
  for case in _SIZES.value:
    n, m, b, k = (int(x) for x in case.split(':'))
    for rule, impl in ((r, i) for r in _RULES.value for i in _IMPLS.value):
      r = bench_case(n, m, b, k, _REPEATS.value, impl, rule)
      results.append(r)
      form = f" ({'dense' if r['dense'] else 'sparse'})" if impl == 'auto' else ''
      print(f"| {n} | {m} | {b} | {k} | {rule} | {impl}{form} | "
            f"{r['matmul_ms']:.2f} | {r['read_ms']:.2f} | {r['write_ms']:.2f} | "
            f"{r['read_write_ms']:.2f} | {r['ratio']:.2f} |", flush=True)
  if _JSON.value:
    with open(_JSON.value, 'w') as f:
      json.dump(dict(device=str(device.device_kind), backend=jax.default_backend(),
                     results=results), f, indent=2)


if __name__ == '__main__':
  app.run(main)
