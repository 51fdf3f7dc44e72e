r"""Recall and speed of the approximate top-k (lax.approx_max_k) against lax.top_k.

    python -m benchmarks.topk_recall [--sizes=64:16384:256,256:262144:256] [--recall=0.95]

For each B:N:k: random scores [B, N]; recall = |approx set ∩ exact set| / k averaged over
rows, and the median times of both. On CPU (and GPU) XLA computes approx_max_k exactly, so
recall is 1 there; it is an approximation (and fast) on TPU. Not a test.
"""

import time

from absl import app
from absl import flags
import jax
import numpy as np

_SIZES = flags.DEFINE_list('sizes', ['64:16384:256', '256:262144:256'], 'Cases B:N:k.')
_RECALL = flags.DEFINE_float('recall', 0.95, 'recall_target of approx_max_k.')
_REPEATS = flags.DEFINE_integer('repeats', 10, 'Timed calls (median).')


def _median_ms(fn, x):
  jax.block_until_ready(fn(x))
  times = []
  for _ in range(_REPEATS.value):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(x))
    times.append(time.perf_counter() - t0)
  return 1e3 * float(np.median(times))


def main(argv):
  del argv
  print(f'# device {jax.devices()[0].device_kind} ({jax.default_backend()}), '
        f'recall_target {_RECALL.value}')
  print('| B | N | k | recall | top_k ms | approx_max_k ms |')
  print('|---|---|---|---|---|---|')
  for case in _SIZES.value:
    b, n, k = (int(v) for v in case.split(':'))
    x = jax.random.normal(jax.random.PRNGKey(0), (b, n))
    exact = jax.jit(lambda s: jax.lax.top_k(s, k))
    approx = jax.jit(lambda s: jax.lax.approx_max_k(s, k, recall_target=_RECALL.value))
    e, a = np.asarray(exact(x)[1]), np.asarray(approx(x)[1])
    recall = np.mean([len(set(e[i]) & set(a[i])) / k for i in range(b)])
    print(f'| {b} | {n} | {k} | {recall:.4f} | {_median_ms(exact, x):.2f} | '
          f'{_median_ms(approx, x):.2f} |', flush=True)


if __name__ == '__main__':
  app.run(main)
