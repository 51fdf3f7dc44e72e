"""The write rules (SPEC 3, "Batches") and the health measures against NumPy, and their
properties: order-free rules are bit-identical under a permuted batch, the sequential one is
not; every rule keeps keys unit; an impossible combination is refused."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mgan_jax import memory as mm
from tests import numpy_reference as ref
from tests.test_memory import (M, N, as_np, assert_memory_close, assert_memory_equal,
                               jit_write, make_config, random_batch, random_memory, unit)

RULES = ('batched', 'proposals', 'sequential')


def check_against_numpy(cfg, mem, q, y):
  got, stats = jit_write(mem, q, y, config=cfg)
  want, hits = ref.WRITES[cfg.write_rule](as_np(mem), np.asarray(q), np.asarray(y), cfg)
  assert_memory_close(got, want)
  real = np.asarray(y) == 1
  assert int(stats.real_hits) == np.sum(hits & real)
  assert int(stats.fake_misses) == np.sum(~hits & ~real)
  return got, hits


CASES = [(0, 1.0, 0.0, 1, 'dense'), (1, 1.0, 10.0, 1, 'sparse'), (2, 3.0, 0.5, 2, 'dense'),
         (3, 1.0, 10.0, 3, 'sparse')]


# proposals takes one EM step (more are refused: see the config test).
@pytest.mark.parametrize('rule,seed,kappa,kappa_write,em_steps,impl', [
    (rule,) + case for rule in RULES for case in CASES
    if rule != 'proposals' or case[3] == 1])
def test_each_rule_matches_numpy(rule, seed, kappa, kappa_write, em_steps, impl):
  cfg = make_config(write_rule=rule, kappa=kappa, kappa_write=kappa_write, em_steps=em_steps,
                    write_impl=impl)
  mem = random_memory(seed)
  q, y = random_batch(seed, 12)
  _, hits = check_against_numpy(cfg, mem, q, y)
  assert hits.any() and not hits.all()  # both branches of the rule were exercised


@pytest.mark.parametrize('impl', ['dense', 'sparse'])
@pytest.mark.parametrize('choose_k,write_k', [(6, 0), (N, 4)])
def test_proposals_with_the_responsibility_histogram_step_matches_numpy(impl, choose_k,
                                                                        write_k):
  cfg = make_config(write_rule='proposals', hist_step='responsibility', kappa=4.0,
                    kappa_write=8.0, write_impl=impl, choose_k=choose_k, write_k=write_k)
  mem = random_memory(13)
  q, y = random_batch(13, 12)
  got, hits = check_against_numpy(cfg, mem, q, y)
  assert hits.any() and not hits.all()
  # It differs from the authors' step on the slots EM wrote (and only in h).
  count, _ = jit_write(mem, q, y, config=make_config(
      write_rule='proposals', kappa=4.0, kappa_write=8.0, write_impl=impl,
      choose_k=choose_k, write_k=write_k))
  np.testing.assert_array_equal(np.asarray(got.keys), np.asarray(count.keys))
  em = (np.asarray(got.ages) == 0) & ~np.isin(np.arange(N), np.asarray(
      jax.lax.top_k(mem.ages, int((~hits).sum()))[1]))
  assert em.any()
  assert np.all(np.asarray(got.hist)[em] < np.asarray(count.hist)[em])


def test_responsibility_histogram_is_bounded_and_ranks_use():
  # Queries near e_0 on every write: the slot nearest them is picked first and keeps h near
  # 1 / (1 - alpha) = 2; the other slots of S_y get little responsibility and decay.
  rs = np.random.RandomState(1)
  q = jnp.asarray(unit(np.tile(np.eye(M)[:1], (8, 1)) + 1e-2 * rs.randn(8, M)))
  y = jnp.ones(8, jnp.int32)
  cfg = make_config(write_rule='proposals', hist_step='responsibility', kappa=10.0,
                    key_init='random')
  mem = mm.init(cfg, jax.random.PRNGKey(0))
  mem = mem.replace(hist=jnp.ones(N), values=jnp.ones(N, jnp.int32))
  for _ in range(12):
    mem, stats = jit_write(mem, q, y, config=cfg)
  assert int(stats.real_hits) == 8
  hist = np.asarray(mem.hist)
  assert 1.5 <= hist.max() <= 2.0
  touched = hist != 1.0
  assert np.sum(touched) >= cfg.choose_k and np.min(hist[touched]) < 0.1


@pytest.mark.parametrize('rule', RULES)
def test_rules_with_short_label_sets_ties_and_the_reference_init(rule):
  # Few fake slots (S_y shorter than k), and the reference init, where every score ties.
  cfg = make_config(write_rule=rule, choose_k=6)
  mem = random_memory(5, real_fraction=0.9)
  mem = mem.replace(values=mem.values.at[:].set(1).at[jnp.array([3, 17])].set(0))
  q, y = random_batch(5, 10)
  check_against_numpy(cfg, mem, q, y)
  zero = mm.init(cfg)
  check_against_numpy(cfg, zero, q, jnp.ones(10, jnp.int32))
  # Exact ties in similarity: the same query twice, and a batch of one repeated direction.
  q2 = jnp.concatenate([q[:3], q[:3]])
  check_against_numpy(cfg, mem, q2, jnp.array([1, 1, 0, 1, 1, 0], jnp.int32))


@pytest.mark.parametrize('rule', RULES)
@pytest.mark.parametrize('choose_k,write_k', [(N, 4), (3, 7)])
def test_a_write_k_other_than_the_read_k_matches_numpy(rule, choose_k, write_k):
  # The read's S over choose_k slots (every slot: the fashion default) and the write's S_y
  # over write_k of them.
  cfg = make_config(write_rule=rule, choose_k=choose_k, write_k=write_k, kappa=4.0,
                    kappa_write=8.0)
  assert cfg.write_top_k == write_k
  mem = random_memory(11)
  mem = mem.replace(ages=jnp.asarray(np.random.RandomState(11).permutation(N), jnp.int32))
  q, y = random_batch(11, 6)
  got, hits = check_against_numpy(cfg, mem, q, y)
  assert hits.any()
  if write_k < N // 4:
    # A write touches at most 6 * write_k slots: the others age, so the LRU stays an order.
    assert 0 < np.sum(np.asarray(got.ages) == 0) <= 6 * write_k
    assert np.sum(np.asarray(got.ages) > 0) >= N - 6 * write_k


@pytest.mark.parametrize('rule', RULES)
def test_lru_over_em_and_many_writes_keep_the_invariants(rule):
  cfg = make_config(write_rule=rule, kappa_write=8.0)
  mem = random_memory(6)
  for step in range(6):
    q, y = random_batch(100 + step, 14)
    mem, _ = jit_write(mem, q, y, config=cfg)
    norms = np.linalg.norm(np.asarray(mem.keys), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)
    assert set(np.unique(np.asarray(mem.values))) <= {0, 1}
    assert np.all(np.asarray(mem.hist) > 0) and np.all(np.asarray(mem.ages) >= 0)
  # One more write checked against NumPy from this used memory.
  check_against_numpy(cfg, mem, *random_batch(200, 14))


@pytest.mark.parametrize('rule', ['batched', 'proposals', 'proposals/responsibility'])
@pytest.mark.parametrize('impl', ['dense', 'sparse'])
def test_order_free_rules_are_bit_identical_under_a_permuted_batch(rule, impl):
  rule, _, hist_step = rule.partition('/')
  cfg = make_config(write_rule=rule, write_impl=impl, kappa_write=5.0,
                    hist_step=hist_step or 'count')
  mem = random_memory(7)
  q, y = random_batch(7, 16)
  perm = np.random.RandomState(0).permutation(16)
  a, _ = jit_write(mem, q, y, config=cfg)
  b, _ = jit_write(mem, q[perm], y[perm], config=cfg)
  hit = np.asarray(mm.plan_write(mem, q, y, cfg).hit)
  if hit.all():
    assert_memory_equal(a, b)
  # The EM part is bit-identical: every slot no miss overwrote.
  lru = np.asarray(jax.lax.top_k(mem.ages, int((~hit).sum()))[1])
  keep = ~np.isin(np.arange(N), lru)
  np.testing.assert_array_equal(np.asarray(a.keys)[keep], np.asarray(b.keys)[keep])
  np.testing.assert_array_equal(np.asarray(a.hist)[keep], np.asarray(b.hist)[keep])
  em_written = keep & (np.asarray(a.ages) == 0)
  assert em_written.any()  # the comparison covers slots that EM wrote


def test_sequential_depends_on_the_order_and_batched_does_not_equal_it():
  cfg = make_config(write_rule='sequential')
  mem = random_memory(8)
  q, y = random_batch(8, 16)
  a, _ = jit_write(mem, q, y, config=cfg)
  b, _ = jit_write(mem, q[::-1], y[::-1], config=cfg)
  assert not np.array_equal(np.asarray(a.keys), np.asarray(b.keys))
  c, _ = jit_write(mem, q, y, config=make_config(write_rule='batched'))
  assert not np.allclose(np.asarray(a.keys), np.asarray(c.keys))


def test_proposals_histogram_is_bounded():
  # A slot touched on every write approaches h = 1 / (1 - alpha) = 2 (alpha = 0.5), whatever
  # the number of queries touching it; the batched rule's grows with that number.
  q = jnp.asarray(unit(np.tile(np.eye(M)[:1], (8, 1)) + 1e-3 * np.random.RandomState(0)
                       .randn(8, M)))
  y = jnp.ones(8, jnp.int32)
  for rule, low, high in (('proposals', 1.9, 2.0), ('batched', 3.0, 100.0)):
    cfg = make_config(write_rule=rule, key_init='random')
    mem = mm.init(cfg, jax.random.PRNGKey(0))
    mem = mem.replace(hist=jnp.ones(N))
    for _ in range(12):
      mem, _ = jit_write(mem, q, y, config=cfg)
    assert low <= float(jnp.max(mem.hist)) <= high, rule


def test_config_refuses_proposals_with_several_em_steps_and_bad_rules():
  with pytest.raises(ValueError, match="proposals' takes one EM step"):
    make_config(write_rule='proposals', em_steps=2)
  with pytest.raises(ValueError, match='write_rule must be one of'):
    make_config(write_rule='authors')
  with pytest.raises(ValueError, match='kappa_write must be > 0'):
    make_config(kappa_write=-1.0)
  with pytest.raises(ValueError, match='write_k must satisfy'):
    make_config(write_k=N + 1)
  with pytest.raises(ValueError, match='write_k must satisfy'):
    make_config(write_k=-1)
  with pytest.raises(ValueError, match='hist_step must be one of'):
    make_config(write_rule='proposals', hist_step='gamma')
  for rule in ('batched', 'sequential'):
    with pytest.raises(ValueError, match="is a step of the 'proposals' rule"):
      make_config(write_rule=rule, hist_step='responsibility')
  assert make_config(choose_k=5).write_top_k == 5
  assert make_config(choose_k=5, write_k=N).write_top_k == N
  assert make_config(kappa=2.0).write_kappa == 2.0
  assert make_config(kappa=2.0, kappa_write=7.0).write_kappa == 7.0


def test_a_read_never_writes_under_any_rule():
  for rule in RULES:
    cfg = make_config(write_rule=rule)
    mem = random_memory(9)
    before = as_np(mem)
    q, _ = random_batch(9, 6)
    jax.jit(mm.read, static_argnames='config')(mem, q, config=cfg)
    for name, value in as_np(mem).items():
      np.testing.assert_array_equal(value, before[name])


# --------------------------------------------------------------------------------------
# Health measures.


def test_health_measures_match_numpy():
  cfg = make_config(kappa=2.0)
  mem = random_memory(10)
  # Duplicate a few real keys so that the greedy count is below the number of slots.
  real = np.flatnonzero(np.asarray(mem.values) == 1)
  keys = np.asarray(mem.keys).copy()
  keys[real[1:6]] = unit(keys[real[0]] + 0.05 * np.random.RandomState(1).randn(5, M))
  mem = mem.replace(keys=jnp.asarray(keys))
  q, y = random_batch(10, 24)
  new, stats = jit_write(mem, q, y, config=cfg)
  d = jax.jit(lambda m, s: mm.diagnostics(m, s, config=cfg))(new, stats)
  h, v, k = (np.asarray(new.hist, np.float64), np.asarray(new.values),
             np.asarray(new.keys, np.float64))
  assert int(d['distinct_real_keys']) == ref.distinct_keys(k, h, v)
  assert int(d['distinct_top20']) == ref.distinct_keys(k, h, v, top=20)
  assert ref.distinct_keys(k, h, v, top=20) < min(20, int(v.sum()))  # the duplicates count
  gap = np.log(h[v == 1].max() + cfg.beta) - np.log(h.mean() + cfg.beta)
  np.testing.assert_allclose(d['prior_gap'], gap, rtol=1e-5)
  assert float(d['prior_gap_limit']) == 4.0
  real_q = np.asarray(y) == 1
  np.testing.assert_allclose(d['real_hit_rate'], int(stats.real_hits) / real_q.sum())
  np.testing.assert_allclose(d['fake_hit_rate'], int(stats.fake_hits) / (~real_q).sum())
  np.testing.assert_allclose(d['split_threshold'], ref.split_threshold(q, y), rtol=1e-3)


def test_distinct_keys_of_a_collapsed_memory_is_one():
  cfg = make_config()
  mem = random_memory(11)
  one = unit(np.ones(M))
  mem = mem.replace(keys=jnp.broadcast_to(jnp.asarray(one), (N, M)))
  d = mm.diagnostics(mem, config=cfg)
  assert int(d['distinct_real_keys']) == 1 and int(d['distinct_top20']) == 1


def test_split_threshold_of_two_clusters():
  # Two tight clusters at angle 2 theta: |mean| = cos theta, the tangent variance sin^2 theta.
  theta = 0.4
  e0, e1 = np.eye(M)[0], np.eye(M)[1]
  a = np.cos(theta) * e0 + np.sin(theta) * e1
  b = np.cos(theta) * e0 - np.sin(theta) * e1
  q = jnp.asarray(np.stack([a, b] * 8).astype(np.float32))
  y = jnp.ones(16, jnp.int32)
  np.testing.assert_allclose(mm.split_threshold(q, y), np.cos(theta) / np.sin(theta) ** 2,
                             rtol=1e-4)


@pytest.mark.parametrize('rule,impl,em_steps', [
    *((r, i, 1) for r in RULES for i in ('dense', 'sparse')), ('batched', 'dense', 3)])
def test_a_posterior_over_every_slot_matches_numpy(rule, impl, em_steps):
  # k = N (the fashion default's choose_k = num_slots): S is every slot, taken in slot
  # order without a sort, and the write's sums are masked [B, N] matrices without a
  # scatter (the EM's later iterations: one matmul); the read and every rule's write still
  # equal the NumPy reference (whose top-k sorts).
  cfg = make_config(write_rule=rule, choose_k=N, kappa=10.0, write_impl=impl,
                    em_steps=em_steps)
  mem = random_memory(7)
  q, y = random_batch(7, 12)
  got = mm.read(mem, q, cfg)
  want, _, _ = ref.read(as_np(mem), np.asarray(q), cfg)
  np.testing.assert_allclose(got.prob_real, want, rtol=1e-5, atol=1e-6)
  check_against_numpy(cfg, mem, q, y)


def test_key_log_posterior_equals_numpy_and_its_gradient_finite_differences():
  """The posterior MI term's Q: log of the real-slot posterior mass on the slot a sample was
  generated from, with duplicate keys sharing it and a fake slot's key joining the softmax."""
  n, m = 12, 5
  rs = np.random.RandomState(7)
  keys = rs.randn(n, m)
  keys /= np.linalg.norm(keys, axis=1, keepdims=True)
  keys[5] = keys[2]                          # two slots, one key: they share c's mass
  values = (rs.rand(n) < 0.6).astype(np.int32)
  values[[2, 5]] = 1
  values[9] = 0                              # K_c of a fake slot (the sampler's fallback)
  hist = rs.uniform(0.1, 3.0, n)
  memory = mm.Memory(keys=jnp.asarray(keys, jnp.float32), values=jnp.asarray(values),
                     ages=jnp.zeros(n, jnp.int32), hist=jnp.asarray(hist, jnp.float32))
  cfg = mm.MemoryConfig(num_slots=n, key_dim=m, choose_k=n, kappa=4.0, beta=1e-8)
  slots = np.array([2, 0, 9, 5, 7, 2])
  slots[1] = np.flatnonzero(values)[0]
  slots[4] = np.flatnonzero(values)[-1]
  q = rs.randn(len(slots), m)
  q /= np.linalg.norm(q, axis=1, keepdims=True)
  q[3] = q[0]                                # slot 5 with slot 2's query
  mem = {'keys': keys, 'values': values, 'hist': hist}
  want = [ref.key_log_posterior(mem, q[b], keys[c], cfg) for b, c in enumerate(slots)]
  got = mm.key_log_posterior(memory, jnp.asarray(q, jnp.float32),
                             jnp.asarray(keys[slots], jnp.float32), cfg)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  assert got[0] == got[3] and np.all(np.asarray(got) < 0)  # slots 2 and 5: one mass
  # The gradient in q against central differences of the NumPy form (float64).
  grad = jax.grad(lambda x: jnp.sum(mm.key_log_posterior(
      memory, x, jnp.asarray(keys[slots], jnp.float32), cfg)))(jnp.asarray(q, jnp.float32))
  eps = 1e-5
  for b, c in enumerate(slots):
    for j in range(m):
      up, down = q[b].copy(), q[b].copy()
      up[j] += eps
      down[j] -= eps
      fd = (ref.key_log_posterior(mem, up, keys[c], cfg)
            - ref.key_log_posterior(mem, down, keys[c], cfg)) / (2 * eps)
      np.testing.assert_allclose(grad[b, j], fd, rtol=1e-3, atol=1e-4)
