"""The memory write under pmap on 4 host devices (conftest.py sets XLA_FLAGS to 8)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mgan_jax import memory as mm
from tests import numpy_reference as ref
from tests.test_memory import as_np, assert_memory_close, random_batch, random_memory

DEVICES = 4


@pytest.fixture(scope='module', autouse=True)
def _need_devices():
  if jax.local_device_count() < DEVICES:
    pytest.fail(f'needs {DEVICES} devices; run with XLA_FLAGS='
                f'--xla_force_host_platform_device_count={DEVICES} (tests/conftest.py sets it)')


def replicate(tree):
  # A leading device axis; pmap shards it (jax.device_put_replicated is gone in JAX 0.10).
  return jax.tree.map(lambda x: jnp.stack([x] * DEVICES), tree)


@pytest.mark.parametrize('rule,em_steps,impl', [
    ('batched', 1, 'dense'), ('batched', 2, 'sparse'), ('proposals', 1, 'sparse'),
    ('sequential', 2, 'dense')])
def test_pmap_write_keeps_replicas_identical_and_equals_single_device(rule, em_steps, impl):
  cfg = mm.MemoryConfig(num_slots=64, key_dim=8, choose_k=6, em_steps=em_steps,
                        write_impl=impl, write_rule=rule, kappa_write=3.0)
  per_device = 3
  memory = random_memory(30, n=64)

  @functools.partial(jax.pmap, axis_name='batch')
  def step(mem, q, y):
    return mm.write(mem, q, y, cfg, axis_name='batch')

  single = jax.jit(mm.write, static_argnames='config')
  rep, ref_mem = replicate(memory), memory
  for t in range(4):  # several writes: replicas must not drift apart
    q, y = random_batch(40 + t, DEVICES * per_device)
    rep, stats = step(rep, q.reshape(DEVICES, per_device, -1), y.reshape(DEVICES, per_device))
    for name in ('keys', 'values', 'ages', 'hist'):
      leaf = np.asarray(getattr(rep, name))
      for d in range(1, DEVICES):
        np.testing.assert_array_equal(leaf[d], leaf[0], err_msg=f'{name} on replica {d}')
    assert len({int(x) for x in stats.real_hits}) == 1

    want, _ = ref.WRITES[rule](as_np(ref_mem), np.asarray(q, np.float64), np.asarray(y), cfg)
    ref_mem, ref_stats = single(ref_mem, q, y, config=cfg)
    first = jax.tree.map(lambda x: x[0], rep)
    assert_memory_close(first, as_np(ref_mem), atol=1e-6)
    assert_memory_close(first, want)
    assert int(stats.fake_misses[0]) == int(ref_stats.fake_misses)


def test_pmap_write_refuses_a_global_batch_larger_than_the_memory():
  cfg = mm.MemoryConfig(num_slots=16, key_dim=8, choose_k=4)
  rep = replicate(random_memory(31, n=16))
  per = 16 // DEVICES + 1
  q, y = random_batch(31, DEVICES * per)  # more queries in all than the 16 slots
  step = jax.pmap(lambda m, q, y: mm.write(m, q, y, cfg, axis_name='b'), axis_name='b')
  with pytest.raises(ValueError, match='distinct slots'):
    step(rep, q.reshape(DEVICES, per, -1), y.reshape(DEVICES, per))
