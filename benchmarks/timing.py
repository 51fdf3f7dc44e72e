"""Timing helpers shared by the benchmarks."""

import time

import jax
import numpy as np


def median_ms(fn, state, repeats: int, warmup: int = 2) -> float:
  """Median wall time in ms of ``state = fn(state)`` over ``repeats`` calls, after
  ``warmup`` untimed calls; every call is waited for (``jax.block_until_ready``)."""
  for _ in range(warmup):
    state = fn(state)
  jax.block_until_ready(state)
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    state = fn(state)
    jax.block_until_ready(state)
    times.append(time.perf_counter() - start)
  return 1e3 * float(np.median(times))
