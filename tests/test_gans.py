"""The discriminator-head registry: each head against its direct computation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import fashion
from mgan_jax import gans, memory as mm
from mgan_jax.gans import losses
from tests import numpy_reference as ref, tiny
from tests.test_memory import random_memory


def config_of(kind):
  config = tiny.shrink(fashion.get_config())
  config.model.kind = kind
  return config


def test_unknown_kind_lists_the_known_heads():
  config = config_of('dcgan')
  config.model.kind = 'vae'
  known = r"\['dcgan', 'madgan', 'memory', 'semisup'\]"
  with pytest.raises(ValueError, match=r"unknown model.kind 'vae'; known: " + known):
    gans.make_head(config)


def test_logit_head_is_the_sigmoid_of_the_logit_and_has_no_state():
  head = gans.make_head(config_of('dcgan'))
  logits = jnp.array([-2.0, 0.0, 3.0])
  out, aux = head.d_outputs(None, jnp.zeros((3, 4)), logits)
  np.testing.assert_allclose(out.prob, 1 / (1 + np.exp(-np.asarray(logits))), rtol=1e-6)
  assert head.init_state(jax.random.PRNGKey(0)) is None and head.cond_dim() == 0
  assert head.condition(None, jax.random.PRNGKey(0), 5) is None
  assert float(head.penalty(None, jnp.ones((3, 4)), None, 'g')) == 0.0
  assert head.update(None, aux, 2) == (None, {})


def test_memory_head_reads_penalises_and_writes_as_the_memory_does():
  config = config_of('memory')
  config.mi_form, config.mi_networks = 'squared', 'both'  # SPEC 4's term (fashion: posterior)
  head = gans.make_head(config)
  cfg = head.config
  memory = random_memory(3, n=cfg.num_slots, m=cfg.key_dim)
  rs = np.random.RandomState(0)
  features = jnp.asarray(rs.randn(8, cfg.key_dim).astype(np.float32))
  out, aux = head.d_outputs(memory, features, None)
  q = mm.normalize(features)
  want = mm.read(memory, q, cfg).prob_real
  np.testing.assert_allclose(out.prob, want, rtol=1e-6)
  np.testing.assert_allclose(out.log_prob, np.log(np.clip(want, 1e-3, 1 - 1e-3)), rtol=1e-5)
  np.testing.assert_array_equal(aux['no_real_slot'], np.asarray(want) == 0)
  cond = jnp.asarray(rs.randn(8, cfg.key_dim).astype(np.float32))
  for network in ('d', 'g'):
    np.testing.assert_allclose(head.penalty(memory, features, cond, network),
                               config.mi_weight * np.mean((features - cond) ** 2), rtol=1e-5)
  # The write takes the first half as real, the second as fake.
  new, metrics = head.update(memory, aux, 2)
  labels = jnp.array([1] * 4 + [0] * 4, jnp.int32)
  want_memory, _ = mm.write(memory, q, labels, cfg)
  for name in ('keys', 'values', 'ages', 'hist'):
    np.testing.assert_array_equal(getattr(new, name), getattr(want_memory, name))
  assert 0.0 <= float(metrics['memory/fake_reads_without_real_slot']) <= 1.0


@pytest.mark.parametrize('networks', ['both', 'generator'])
def test_the_cosine_mutual_information_term_is_one_minus_the_cosine_to_the_key(networks):
  config = config_of('memory')
  config.mi_form, config.mi_networks, config.mi_weight = 'cosine', networks, 0.7
  head = gans.make_head(config)
  rs = np.random.RandomState(2)
  mu = rs.randn(6, 16) * rs.uniform(0.1, 10.0, (6, 1))  # any norm: only the direction counts
  keys = rs.randn(6, 16)
  keys /= np.linalg.norm(keys, axis=1, keepdims=True)
  cos = np.sum(mu * keys, axis=1) / np.linalg.norm(mu, axis=1)
  want = 0.7 * np.mean(1.0 - cos)
  got = head.penalty(None, jnp.asarray(mu, jnp.float32), jnp.asarray(keys, jnp.float32), 'g')
  np.testing.assert_allclose(got, want, rtol=1e-5)
  np.testing.assert_allclose(
      head.penalty(None, jnp.asarray(3.0 * mu, jnp.float32), jnp.asarray(keys, jnp.float32),
                   'g'),
      want, rtol=1e-5)
  d_term = float(head.penalty(None, jnp.asarray(mu, jnp.float32), jnp.asarray(keys, jnp.float32),
                              'd'))
  assert d_term == (0.0 if networks == 'generator' else pytest.approx(want, rel=1e-5))


@pytest.mark.parametrize('networks', ['both', 'generator'])
def test_the_posterior_mutual_information_term_is_minus_the_log_posterior_of_the_slot(networks):
  config = config_of('memory')
  config.mi_form, config.mi_networks, config.mi_weight = 'posterior', networks, 0.3
  head = gans.make_head(config)
  cfg = head.config
  memory = random_memory(5, n=cfg.num_slots, m=cfg.key_dim)
  rs = np.random.RandomState(5)
  slots = rs.choice(np.flatnonzero(np.asarray(memory.values)), 6)
  mu = rs.randn(6, cfg.key_dim) * rs.uniform(0.1, 10.0, (6, 1))
  q = mu / np.linalg.norm(mu, axis=1, keepdims=True)
  mem = {name: np.asarray(getattr(memory, name), np.float64) for name in ('keys', 'hist')}
  mem['values'] = np.asarray(memory.values)
  want = -0.3 * np.mean([ref.key_log_posterior(mem, q[b], mem['keys'][c], cfg)
                         for b, c in enumerate(slots)])
  cond = memory.keys[slots]
  got = head.penalty(memory, jnp.asarray(mu, jnp.float32), cond, 'g')
  np.testing.assert_allclose(got, want, rtol=1e-4)
  d_term = float(head.penalty(memory, jnp.asarray(mu, jnp.float32), cond, 'd'))
  assert d_term == (0.0 if networks == 'generator' else pytest.approx(want, rel=1e-4))


def test_reads_without_a_real_slot_are_flagged():
  head = gans.make_head(config_of('memory'))
  cfg = head.config
  memory = random_memory(4, n=cfg.num_slots, m=cfg.key_dim)
  features = jnp.asarray(np.random.RandomState(1).randn(6, cfg.key_dim).astype(np.float32))
  all_fake = memory.replace(values=jnp.zeros_like(memory.values))
  out, aux = head.d_outputs(all_fake, features, None)
  assert bool(jnp.all(aux['no_real_slot'])) and float(jnp.max(out.prob)) == 0.0
  assert float(head.output_metrics(aux)['memory/g_reads_without_real_slot']) == 1.0
  all_real = memory.replace(values=jnp.ones_like(memory.values))
  _, aux = head.d_outputs(all_real, features, None)
  assert not bool(jnp.any(aux['no_real_slot']))
  assert losses.from_probability(jnp.zeros(2)).log_prob[0] == pytest.approx(np.log(1e-3))


def test_the_watch_says_the_discriminator_won_after_enough_windows_in_a_row():
  from mgan_jax.train import trainer
  watch = trainer.DiscriminatorWatch(windows=3)
  won = {'d_real': 0.999, 'd_fake': 0.001}
  close = {'d_real': 0.95, 'd_fake': 0.001}
  assert [watch.update(m) for m in (won, won, close, won, won, won, won)] == [
      False, False, False, False, False, True, True]
  assert not trainer.DiscriminatorWatch(windows=0).update(won)
