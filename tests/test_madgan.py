"""MAD-GAN and MAD-GAN-Sim (mgan_jax.gans.madgan): the (k+1)-way losses and the -Sim term
against their NumPy forms, recomputed outside the step; the generators provably distinct
(swapping two generators' parameters swaps their grid rows); pmap == jit; the refusals."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mgan_jax.data import toy
from mgan_jax.evaluate import results
from mgan_jax.gans import madgan
from mgan_jax.train import sampling, trainer, training
from tests import numpy_madgan as ref
from tests import tiny
from tests.test_improved import _steps, pmap_and_jit_steps
from tests.test_training import fashion_images, run_cli, tiny_fashion


def tiny_madgan(k=2, **overrides):
  return tiny_fashion(**{'model.kind': 'madgan', 'madgan.num_generators': k, **overrides})


# --------------------------------------------------------------------------------------
# Formulas against NumPy.


@pytest.mark.parametrize('alpha', [1.0, 0.9])
def test_the_k_plus_1_way_discriminator_loss_equals_numpy(alpha):
  rng = np.random.default_rng(0)
  k = 3
  logits_real = rng.normal(size=(6, k + 1)).astype(np.float32)
  logits_fake = rng.normal(size=(6, k + 1)).astype(np.float32)
  head = madgan.MultiGeneratorHead(k=k, share_layers=False, similarity=False,
                                   phi_layer='features', similarity_weight=1.0)
  out, aux = head.d_outputs(None, None, jnp.concatenate([logits_real, logits_fake]))
  real = jax.tree.map(lambda x: x[:6], out)
  fake = jax.tree.map(lambda x: x[6:], out)
  loss = head.discriminator_loss(real, fake, aux, 'alternative', alpha)
  np.testing.assert_allclose(loss, ref.discriminator_loss(logits_real, logits_fake, alpha),
                             rtol=1e-5)
  # D(x) is the softmax's real column.
  both = np.concatenate([logits_real, logits_fake])
  np.testing.assert_allclose(out.prob, ref.softmax(both)[:, -1], rtol=1e-5)


def test_the_similarity_term_equals_numpy():
  rng = np.random.default_rng(1)
  k = 3
  p = rng.uniform(0.05, 0.95, size=12).astype(np.float32)
  phi = rng.normal(size=(12, 2, 3)).astype(np.float32)
  got = madgan.similarity_violation(jnp.asarray(p), jnp.asarray(phi), k)
  want = ref.similarity_violation(p, phi, k)
  assert want > 0
  np.testing.assert_allclose(got, want, rtol=1e-5)
  # Nothing is violated when every generator's sample is taken for real with a margin.
  spread = np.repeat(np.eye(k, dtype=np.float32)[None], 4, axis=0).reshape(12, k)  # cos 0
  assert float(madgan.similarity_violation(jnp.ones(12) * 0.5, jnp.asarray(spread), k)) == 0


def test_the_similarity_term_moves_generator_i_and_holds_the_others_constant():
  # One z, two generators: D(G_0(z)) = 0.2, D(G_1(z)) = 0.9, cos(phi_0, phi_1) = 0.6.
  p = jnp.array([0.2, 0.9])
  phi = jnp.array([[1.0, 0.0], [0.6, 0.8]])  # cos = 0.6
  # (i=0, j=1): 0.9 + 0.6 - 0.2 = 1.3 > 0 violated; (i=1, j=0): 0.2 + 0.6 - 0.9 < 0.
  grad_p, grad_phi = jax.grad(madgan.similarity_violation, argnums=(0, 1))(p, phi, 2)
  # The violated pair's gradient reaches G_0's side only: -1 / (Q k (k - 1)) = -1/2 on
  # D(G_0), nothing on D(G_1) (held constant), nothing on phi(G_1).
  np.testing.assert_allclose(grad_p, [-0.5, 0.0], atol=1e-7)
  np.testing.assert_allclose(grad_phi[1], [0.0, 0.0], atol=1e-7)
  assert np.abs(np.asarray(grad_phi[0])).max() > 0


def test_generator_statistics_on_a_mixture():
  means, _ = toy.mixture('ring8')
  # k = 2: generator 0 draws modes 0 and 1, generator 1 draws mode 1 (more often) and 2.
  points = np.array([means[0], means[1], means[1], means[1], means[0], means[2],
                     [9.0, 9.0], means[1]])
  stats = toy.generator_statistics(points, 'ring8', 2)
  assert stats['generator_modes'] == [2, 2]
  assert stats['generator_high_quality'] == [0.75, 1.0]
  # Mode 0: generator 0 (2 samples); mode 1: generator 1 (3 against 1); mode 2: generator 1.
  assert stats['generator_modes_won'] == [1, 2]


# --------------------------------------------------------------------------------------
# In the step.


def _recompute(config, initial, after, metrics):
  """The step's D and G losses from the states before and after one step, in NumPy."""
  setup = tiny.setup(config, 1)
  k_d, k_g, _ = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(1), 0), 3)
  x_real = sampling.preprocess(fashion_images()[:config.batch_size], 'unit')

  @jax.jit  # compiled whole: op by op, every layer's operations compile on their own
  def generate(g_params, rng):
    g_in, _ = sampling.generator_inputs(setup, None, rng, config.batch_size)
    return training.apply_generator(setup.g_train, g_params, initial.g_stats, g_in, None,
                                    True)[0]

  @jax.jit
  def d_jit(d_params, d_stats, x):
    variables = {'params': d_params, 'batch_stats': d_stats}
    return setup.d_train.apply(variables, x, mutable=['batch_stats'])[0]

  def d_apply(d_params, d_stats, x):
    features, logits = d_jit(d_params, d_stats, x)
    return np.asarray(features), np.asarray(logits)

  _, l_real = d_apply(initial.d_params, initial.d_stats, x_real)
  _, l_fake = d_apply(initial.d_params, initial.d_stats, generate(initial.g_params, k_d))
  d_loss = ref.discriminator_loss(l_real, l_fake)
  # G's loss: D after its update, G before its own, the G step's noise.
  f_g, l_g = d_apply(after.d_params, after.d_stats, generate(initial.g_params, k_g))
  g_loss = ref.generator_loss_alternative(l_g)
  violation = ref.similarity_violation(ref.softmax(np.float64(l_g))[:, -1], f_g,
                                       config.madgan.num_generators)
  return d_loss, g_loss, violation


@pytest.mark.parametrize('similarity', [False, True])
def test_the_step_losses_recomputed_outside_the_step(similarity):
  config = tiny_madgan(k=2, loss='alternative', **{'madgan.similarity': similarity,
                                                   'madgan.similarity_weight': 0.5})
  setup = tiny.setup(config, 1)
  initial = jax.device_get(training.init_state(setup, jax.random.PRNGKey(0)))
  _, states, metrics = _steps(config, 1)
  d_loss, g_loss, violation = _recompute(config, initial, states[0], metrics)
  np.testing.assert_allclose(metrics[0]['d_loss'], d_loss, rtol=1e-4)
  expected = g_loss + (0.5 * violation if similarity else 0.0)
  np.testing.assert_allclose(metrics[0]['g_loss'], expected, rtol=1e-4)
  if similarity:
    assert violation > 0
    np.testing.assert_allclose(metrics[0]['madgan/similarity_violation'], violation,
                               rtol=1e-4)
  assert 0.0 <= metrics[0]['madgan/d_identifies_generator'] <= 1.0


def test_phi_can_be_the_generated_sample_itself():
  config = tiny_madgan(k=2, **{'madgan.similarity': True, 'madgan.similarity_layer': 'generator'})
  setup = tiny.setup(config, 1)
  initial = jax.device_get(training.init_state(setup, jax.random.PRNGKey(0)))
  _, states, metrics = _steps(config, 1)
  k_g = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(1), 0), 3)[1]
  g_in, _ = sampling.generator_inputs(setup, None, k_g, config.batch_size)

  @jax.jit  # compiled whole, not op by op
  def fake_and_logits(initial, after, g_in):
    fake, _ = training.apply_generator(setup.g_train, initial.g_params, initial.g_stats, g_in,
                                       None, True)
    variables = {'params': after.d_params, 'batch_stats': after.d_stats}
    (_, logits), _ = setup.d_train.apply(variables, fake, mutable=['batch_stats'])
    return fake, logits

  fake, logits = fake_and_logits(initial, states[0], g_in)
  want = ref.similarity_violation(ref.softmax(np.float64(logits))[:, -1], np.asarray(fake), 2)
  np.testing.assert_allclose(metrics[0]['madgan/similarity_violation'], want, rtol=1e-4)


def test_with_similarity_the_k_generators_share_each_z():
  config = tiny_madgan(k=4, **{'madgan.similarity': True})
  setup = tiny.setup(config, 1)
  g_in, _ = sampling.generator_inputs(setup, None, jax.random.PRNGKey(0), 8)
  g_in = np.asarray(g_in)
  np.testing.assert_array_equal(g_in[:4], np.repeat(g_in[:1], 4, axis=0))
  assert not np.allclose(g_in[0], g_in[4])
  plain = training.make_setup(tiny_madgan(k=4), 1)
  g_in, _ = sampling.generator_inputs(plain, None, jax.random.PRNGKey(0), 8)
  assert len(np.unique(np.asarray(g_in), axis=0)) == 8


def _swap(tree, a, b):
  def swap(x):
    x = np.array(x)
    x[[a, b]] = x[[b, a]]
    return x
  return jax.tree.map(swap, tree)


@pytest.mark.parametrize('share_layers', [False, True])
def test_swapping_two_generators_parameters_swaps_their_grid_rows(share_layers):
  k = 4
  config = tiny_madgan(k=k, **{'madgan.share_layers': share_layers})
  setup = tiny.setup(config, 1)
  state = jax.device_get(training.init_state(setup, jax.random.PRNGKey(0)))
  generate = training.make_generate(setup)
  z = sampling.draw_z(jax.random.PRNGKey(3), 3, setup.z_dim)
  g_in = sampling.generator_grid_inputs(z, k)

  def grid(st):
    return sampling.rows_by_generator(generate(st, g_in), k).reshape((k, 3, -1))

  before = grid(state)
  for i in range(k):  # the generators differ: each row its own
    for j in range(i + 1, k):
      assert np.abs(before[i] - before[j]).max() > 1e-4
  params = state.g_params
  if share_layers:  # only the last layer is stacked; the rest is one network
    stacked = {name: p for name, p in params.items() if name.startswith('PerGenerator')}
    assert len(stacked) == 1, list(params)
    name = next(iter(stacked))
    params = {**params, name: _swap(params[name], 1, 3)}
  else:
    assert list(params) == ['generators']
    params = _swap(params, 1, 3)
  stats = _swap(state.g_stats, 1, 3) if not share_layers else state.g_stats
  after = grid(state.replace(g_params=params, g_stats=stats))
  np.testing.assert_allclose(after[[0, 3, 2, 1]], before, rtol=1e-5, atol=1e-6)


def test_pmap_step_equals_the_single_device_step():
  # With -Sim: its shared z and its term on top of every part of the plain MAD-GAN step.
  config = tiny_madgan(k=2, batch_size=16, **{'madgan.similarity': True})
  m8, m1 = pmap_and_jit_steps(config)
  for name in ('d_loss', 'g_loss', 'madgan/d_identifies_generator',
               'madgan/similarity_violation'):
    np.testing.assert_allclose(m8[-1][name][0], m1[-1][name], rtol=1e-4, atol=1e-6)


def test_scan_and_vmap_stacking_are_one_model():
  config = tiny_madgan(k=4)
  setup = tiny.setup(config, 1)
  looped = training.make_setup(tiny_madgan(k=4, **{'madgan.stacking': 'scan'}), 1)
  state = jax.device_get(training.init_state(setup, jax.random.PRNGKey(0)))
  g_in = np.asarray(sampling.generator_inputs(setup, None, jax.random.PRNGKey(2), 8)[0])
  target = np.random.default_rng(0).uniform(size=(8, 28, 28, 1)).astype(np.float32)
  results = []
  for s in (setup, looped):  # the same variables: one initialisation serves both
    def loss(params, s=s):
      out, stats = training.apply_generator(s.g_train, params, state.g_stats, g_in, None, True)
      return jnp.mean((out - target) ** 2), (out, stats)
    (value, (out, stats)), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(
        state.g_params)
    results.append((out, stats, grads))
  # The generator's output, batch statistics and gradients: everything the train step takes
  # from the generator (the step calls the same apply_generator).
  for a, b in zip(jax.tree.leaves(results[0]), jax.tree.leaves(results[1])):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8)


def test_a_run_trains_writes_the_per_generator_grid_and_restores(tmp_path):
  config = tiny_madgan(k=2, num_steps=2)
  trainer.train_and_evaluate(config, str(tmp_path))
  assert (tmp_path / 'samples' / 'generators_0000002.png').exists()
  state, step = trainer.final_state(config, str(tmp_path), 2)  # the stacked parameters
  assert step == 2 and int(state.step) == 2
  assert jax.tree.leaves(state.g_params)[0].shape[0] == 2
  # experiments.sample: the per-generator grid, --num rounded up to a multiple of k.
  out = run_cli(f'--workdir={tmp_path}', '--num=5', '--cols=3', module='experiments.sample')
  assert out.returncode == 0, out.stderr[-2000:]
  assert 'rounded up to 6' in out.stdout
  assert (tmp_path / 'final_samples' / 'generators.png').exists()


def test_the_mode_benchmark_compares_madgan_and_its_sim_variant(tmp_path):
  out = run_cli('--config=ring8', '--models=madgan,madgan_sim', '--seeds=0',
                f'--root={tmp_path}', '--config.num_steps=20', '--config.sample_every=20',
                '--config.checkpoint_every=20', module='experiments.mode_benchmark')
  assert out.returncode == 0, out.stderr[-2000:]
  assert '| madgan |' in out.stdout and '| madgan_sim |' in out.stdout
  assert 'madgan modes won by each generator, per seed: 0: [' in out.stdout
  # Each run's scores are where experiments.compare reads them.
  summary = json.load(open(tmp_path / 'ring8' / 'summary.json'))
  run = results.read_scores(str(tmp_path / 'ring8' / 'madgan_sim_seed0'))
  assert run.seed == 0
  assert run.scores[20]['modes'] == summary['per_seed']['madgan_sim'][0]['modes']
  bad = run_cli('--config=ring8', '--models=madgan,gan9', module='experiments.mode_benchmark')
  assert bad.returncode != 0
  assert 'unknown model(s) gan9; known: memory, dcgan, madgan, madgan_sim' in bad.stderr


def test_evaluation_reports_each_generator_for_any_sample_count():
  from experiments.configs import ring8_madgan
  from mgan_jax.evaluate import evaluation
  from tests import tiny
  config = tiny.shrink(ring8_madgan.get_config())  # k = 4
  setup = tiny.setup(config, 1)
  state = training.init_state(setup, jax.random.PRNGKey(0))
  result = evaluation.Evaluator(config, num_samples=50, pictures=False)(state, step=0)
  assert result.protocol['num_generated'] == 50  # 52 generated, the last 2 dropped
  for name in ('generator_modes', 'generator_high_quality', 'generator_modes_won'):
    assert len(result.scores[name]) == 4
  fashion_result = evaluation.Evaluator(tiny_madgan(k=4), num_samples=30, reference_size=200,
                                        pictures=False)(
      training.init_state(training.make_setup(tiny_madgan(k=4), 1), jax.random.PRNGKey(0)), 0)
  assert len(fashion_result.scores['generator_majority_class']) == 4
  assert 'interpolation_off_manifold' not in fashion_result.scores


BAD = [
    ({'madgan.num_generators': 3}, 'num_generators=3 must divide the per-device batch'),
    ({'madgan.num_generators': 0}, 'num_generators must be at least 1'),
    ({'madgan.num_generators': 8, 'num_samples': 4}, 'num_samples=4 must be a multiple'),
    ({'loss': 'updown'}, 'not updown'),
    ({'improved.virtual_batch_norm': 4}, 'virtual_batch_norm does not combine'),
    ({'madgan.num_generators': 1, 'madgan.similarity': True},
     'similarity needs madgan.num_generators of 2'),
    ({'madgan.similarity': True, 'madgan.similarity_weight': -1.0},
     'similarity_weight must be 0 or more'),
    ({'madgan.stacking': 'pmap'}, "madgan.stacking must be 'vmap' or 'scan'"),
    ({'madgan.similarity': True, 'madgan.similarity_layer': 'conv7'},
     "similarity_layer='conv7' is not a layer .* conv0, conv1, conv2, features"),
]


@pytest.mark.parametrize('overrides,message', BAD)
def test_bad_values_are_refused_before_anything_is_made(tmp_path, overrides, message):
  with pytest.raises(trainer.ConfigError, match=message):
    trainer.Trainer(tiny_madgan(**overrides), str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()


def test_the_base_config_documents_the_madgan_defaults():
  from experiments.configs import base
  assert dict(base.base_config().madgan) == madgan.defaults()
