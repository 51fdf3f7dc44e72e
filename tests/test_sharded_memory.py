"""The sharded memory on 8 host devices equals the whole memory on the same global batch."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mgan_jax import memory as mm
from tests.test_memory import as_np, assert_memory_close, random_batch, random_memory

D = 8
N, M = 64, 8


def split(x, per=None):
  return x.reshape((D, -1) + x.shape[1:])


@pytest.mark.parametrize('k,c', [(4, 1), (6, 2)])
def test_sharded_read_and_gradients_equal_the_whole_memory(k, c):
  cfg = mm.MemoryConfig(num_slots=N, key_dim=M, choose_k=k, correct_in_top=c)
  memory = random_memory(40, n=N)
  q, _ = random_batch(40, D * 3)

  def objective(mem, queries):
    return jnp.sum(jnp.log(mm.read(mem, queries, cfg).prob_real + 1e-3))

  want = mm.read(memory, q, cfg)
  want_grad = jax.grad(objective, argnums=1)(memory, q)

  @functools.partial(jax.pmap, axis_name='m')
  def sharded(local, queries):
    out = mm.read(local, queries, cfg, 'm', sharded=True)
    grad = jax.grad(lambda qq: jnp.sum(jnp.log(mm.read(local, qq, cfg, 'm', sharded=True).prob_real
                                               + 1e-3)))(queries)
    return out, grad

  out, grad = sharded(mm.shard(memory, D), split(q))
  np.testing.assert_array_equal(np.asarray(out.indices).reshape(-1, k), want.indices)
  np.testing.assert_allclose(np.asarray(out.prob_real).reshape(-1), want.prob_real, rtol=1e-6)
  np.testing.assert_allclose(np.asarray(grad).reshape(-1, M), want_grad, rtol=1e-4, atol=1e-6)


CASES = [  # rule, em_steps, c, beta, impl, kappa_write, write_k, hist_step
    ('batched', 2, 1, 1.0, 'dense', 0.0, 0, 'count'),
    ('batched', 2, 2, 1e-8, 'sparse', 6.0, 0, 'count'),
    ('proposals', 1, 1, 1e-8, 'sparse', 10.0, 0, 'count'),
    ('proposals', 1, 2, 1e-8, 'dense', 0.0, 0, 'count'),
    ('proposals', 1, 1, 1e-8, 'dense', 10.0, 2, 'count'),
    ('proposals', 1, 1, 1e-8, 'sparse', 10.0, 2, 'responsibility'),
    ('sequential', 2, 1, 1e-8, 'dense', 4.0, 0, 'count')]


@pytest.mark.parametrize('rule,em_steps,correct_in_top,beta,impl,kappa_write,write_k,hist_step',
                         CASES)
def test_sharded_writes_equal_the_whole_memory_over_several_steps(rule, em_steps,
                                                                  correct_in_top, beta, impl,
                                                                  kappa_write, write_k,
                                                                  hist_step):
  cfg = mm.MemoryConfig(num_slots=N, key_dim=M, choose_k=5, em_steps=em_steps,
                        correct_in_top=correct_in_top, write_impl=impl, beta=beta,
                        write_rule=rule, kappa_write=kappa_write, write_k=write_k,
                        hist_step=hist_step)
  whole = random_memory(41, n=N)
  local = mm.shard(whole, D)
  write = jax.pmap(lambda mem, q, y: mm.write(mem, q, y, cfg, 'm', num_groups=2, sharded=True),
                   axis_name='m')
  for t in range(4):
    q, y = random_batch(50 + t, D * 4)
    y = jnp.asarray(np.r_[np.ones(D * 2), np.zeros(D * 2)].astype(np.int32))
    # Each device's local batch: 2 real then 2 fake; the global order is all reals, fakes.
    q_dev = jnp.concatenate([split(q[:D * 2]), split(q[D * 2:])], axis=1)
    y_dev = jnp.concatenate([split(y[:D * 2]), split(y[D * 2:])], axis=1)
    local, stats = write(local, q_dev, y_dev)
    whole, want_stats = jax.jit(mm.write, static_argnames='config')(whole, q, y, config=cfg)
    assert_memory_close(mm.unshard(local), as_np(whole), atol=1e-6)
    for name in ('real_hits', 'real_misses', 'fake_hits', 'fake_misses'):
      assert int(getattr(stats, name)[0]) == int(getattr(want_stats, name)), name
    np.testing.assert_allclose(stats.split_threshold[0], want_stats.split_threshold, rtol=1e-5)
    assert int(want_stats.real_misses + want_stats.fake_misses) > 0 or t > 0


def test_sharded_sampling_and_diagnostics_equal_the_whole_memory():
  memory = random_memory(42, n=N)
  rng = jax.random.PRNGKey(3)
  idx, keys = jax.pmap(lambda mem: mm.sample_keys(mem, rng, 10, 'm', sharded=True), axis_name='m')(
      mm.shard(memory, D))
  want_idx, want_keys = mm.sample_keys(memory, rng, 10)
  np.testing.assert_array_equal(idx[3], want_idx)
  np.testing.assert_array_equal(keys[5], want_keys)
  stats = mm.WriteStats(*(jnp.full((D,), v, jnp.int32) for v in (3, 1, 2, 2)), jnp.full((D,), 1.5))
  got = jax.pmap(lambda mem, st: mm.diagnostics(mem, st, 'm', sharded=True), axis_name='m')(
      mm.shard(memory, D), stats)
  want = mm.diagnostics(memory, mm.WriteStats(*(jnp.int32(v) for v in (3, 1, 2, 2)),
                                              jnp.float32(1.5)))
  for key, value in want.items():
    np.testing.assert_allclose(got[key][0], value, rtol=1e-5, err_msg=key)


def test_sharding_is_refused_when_it_cannot_work():
  with pytest.raises(ValueError, match='does not split over 3 devices'):
    mm.check_shards(mm.MemoryConfig(num_slots=64, key_dim=8, choose_k=4), 3)
  with pytest.raises(ValueError, match='more than the 8 slots of one device'):
    mm.check_shards(mm.MemoryConfig(num_slots=64, key_dim=8, choose_k=9), 8)
  with pytest.raises(ValueError, match='write_k=9 is more than the 8 slots'):
    mm.check_shards(mm.MemoryConfig(num_slots=64, key_dim=8, choose_k=4, write_k=9), 8)


def test_sharded_key_log_posterior_and_its_gradient_equal_the_whole_memory():
  cfg = mm.MemoryConfig(num_slots=N, key_dim=M, choose_k=N // D, kappa=6.0)
  memory = random_memory(41, n=N)
  memory = memory.replace(keys=memory.keys.at[17].set(memory.keys[50]))  # a shared key
  q, _ = random_batch(41, D * 3)
  slots = np.random.RandomState(41).choice(np.flatnonzero(np.asarray(memory.values)), D * 3)
  slots[:2] = [17, 50]
  cond = memory.keys[slots]
  want = mm.key_log_posterior(memory, q, cond, cfg)
  want_grad = jax.grad(lambda x: jnp.sum(mm.key_log_posterior(memory, x, cond, cfg)))(q)

  @functools.partial(jax.pmap, axis_name='m')
  def sharded(local, queries, keys):
    def f(x):
      return mm.key_log_posterior(local, x, keys, cfg, 'm', sharded=True)
    return f(queries), jax.grad(lambda x: jnp.sum(f(x)))(queries)

  out, grad = sharded(mm.shard(memory, D), split(q), split(cond))
  np.testing.assert_allclose(np.asarray(out).reshape(-1), want, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(np.asarray(grad).reshape(-1, M), want_grad, rtol=1e-4, atol=1e-6)
