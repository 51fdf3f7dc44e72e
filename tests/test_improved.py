"""The Improved-GAN techniques (mgan_jax.gans.improved): each formula against its NumPy form,
the properties (pmap == jit, examples independent under virtual batch norm, running means
resumed exactly) and the refusals."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mgan_jax.gans import improved, losses
from mgan_jax.nets import layers, models
from mgan_jax.train import checkpoints, sampling, trainer, training
from tests import numpy_improved as ref
from tests import tiny
from tests.test_training import fashion_images, tiny_fashion

ALL_ON = {'improved.feature_matching': 'conv1', 'improved.minibatch_kernels': 3,
          'improved.minibatch_kernel_dim': 4, 'improved.historical_averaging': 0.1,
          'improved.label_smoothing': 0.9, 'improved.virtual_batch_norm': 4}


# --------------------------------------------------------------------------------------
# Formulas against NumPy.


class _Draws(nn.Module):
  """The standard normals a module's first ``len(shapes)`` noise draws take, in order (the
  same scope and rng counter as a top-level encoder's)."""
  shapes: tuple

  @nn.compact
  def __call__(self, x):
    del x
    return [layers.gaussian_noise(self, jnp.zeros(s), 1.0) for s in self.shapes]


def test_discriminator_noise_layers_equal_numpy_and_are_off_outside_training():
  enc = models.MLPEncoder(key_dim=3, hidden=(5, 4), input_noise=0.3, hidden_noise=0.5)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(6, 2)), jnp.float32)
  variables = enc.init(jax.random.PRNGKey(0), x)
  key = jax.random.PRNGKey(5)
  out = enc.apply(variables, x, rngs={layers.NOISE_RNG: key})
  n = [np.asarray(d) for d in _Draws(((6, 2), (6, 5), (6, 4))).apply(
      {}, x, rngs={layers.NOISE_RNG: key})]
  p = jax.tree.map(np.asarray, variables['params'])

  def dense(h, name):
    return h @ p[name]['Dense_0']['kernel'] + p[name]['Dense_0']['bias']

  def lrelu(t):
    return np.where(t > 0, t, 0.2 * t)

  h = np.asarray(x) + 0.3 * n[0]                      # the input's noise
  h = lrelu(dense(h, 'DenseBlock_0')) + 0.5 * n[1]    # each hidden layer's
  h = lrelu(dense(h, 'DenseBlock_1')) + 0.5 * n[2]
  expected = h @ p['Dense_0']['kernel'] + p['Dense_0']['bias']
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
  assert np.abs(n[1]).max() > 0.1
  # No noise without the rng (initialisation, evaluation) or in inference mode.
  plain = models.MLPEncoder(key_dim=3, hidden=(5, 4)).apply(variables, x)
  np.testing.assert_array_equal(enc.apply(variables, x), plain)
  np.testing.assert_array_equal(
      enc.clone(train=False).apply(variables, x, rngs={layers.NOISE_RNG: key}), plain)


def test_minibatch_discrimination_equals_numpy():
  rng = np.random.default_rng(0)
  f = rng.normal(size=(6, 5)).astype(np.float32)
  layer = layers.MinibatchDiscrimination(num_kernels=3, kernel_dim=4)
  variables = layer.init(jax.random.PRNGKey(0), f)
  T = np.asarray(variables['params']['T']).reshape(5, 3, 4)
  np.testing.assert_allclose(layer.apply(variables, f), ref.minibatch_features(f, T),
                             rtol=1e-5)


def test_minibatch_discrimination_under_pmap_compares_with_the_global_batch():
  devices = tiny.PMAP_DEVICES
  rng = np.random.default_rng(1)
  f = rng.normal(size=(16, 5)).astype(np.float32)
  layer = layers.MinibatchDiscrimination(num_kernels=2, kernel_dim=3)
  variables = layer.init(jax.random.PRNGKey(0), f)
  whole = layer.apply(variables, f)
  split = jax.pmap(lambda v, x: layer.clone(axis_name='i').apply(v, x), axis_name='i',
                   in_axes=(None, 0))(variables, f.reshape(devices, -1, 5))
  np.testing.assert_allclose(np.asarray(split).reshape(16, 2), whole, rtol=1e-6)


def test_virtual_batch_norm_equals_numpy_and_examples_are_independent():
  rng = np.random.default_rng(2)
  x = rng.normal(1.0, 2.0, size=(7, 3, 3, 2)).astype(np.float32)
  layer = layers.VirtualBatchNorm(reference_size=4)
  variables = layer.init(jax.random.PRNGKey(0), x)
  variables = {'params': {'bias': jnp.array([0.5, -1.0])}}
  out = np.asarray(layer.apply(variables, x))
  np.testing.assert_allclose(out, ref.virtual_batch_norm(x, 4, [0.5, -1.0], 1e-3),
                             rtol=1e-4, atol=1e-5)
  # An example's output depends on the reference rows and on itself only.
  alone = np.asarray(layer.apply(variables, np.concatenate([x[:4], x[5:6]])))
  np.testing.assert_allclose(alone[4], out[5], rtol=1e-6)
  flat = rng.normal(size=(6, 3)).astype(np.float32)  # dense layers: no spatial axes
  np.testing.assert_allclose(layers.VirtualBatchNorm(2).apply({'params': {'bias': jnp.zeros(3)}},
                                                              flat),
                             ref.virtual_batch_norm(flat, 2, np.zeros(3), 1e-3), rtol=1e-4,
                             atol=1e-5)


def test_feature_matching_equals_numpy_and_pmap_uses_the_global_means():
  rng = np.random.default_rng(3)
  a = rng.normal(size=(16, 2, 2, 3)).astype(np.float32)
  b = rng.normal(size=(16, 2, 2, 3)).astype(np.float32)
  expected = ref.feature_matching(a, b)
  np.testing.assert_allclose(improved.feature_matching_loss(a, b), expected, rtol=1e-5)
  split = jax.pmap(functools.partial(improved.feature_matching_loss, axis_name='i'),
                   axis_name='i')(a.reshape(8, 2, 2, 2, 3), b.reshape(8, 2, 2, 2, 3))
  np.testing.assert_allclose(split, np.full(8, expected), rtol=1e-5)
  # Only the generated side carries a gradient.
  grad_real = jax.grad(improved.feature_matching_loss)(a, b)
  np.testing.assert_array_equal(grad_real, 0.0)


def test_historical_average_is_the_mean_of_past_parameters_and_its_penalty_equals_numpy():
  rng = np.random.default_rng(4)
  thetas = [{'w': rng.normal(size=(3, 2)), 'b': rng.normal(size=(2,))} for _ in range(5)]
  average = jax.tree.map(jnp.asarray, thetas[0])
  for t, theta in enumerate(thetas[1:]):
    average = improved.update_average(average, jax.tree.map(jnp.asarray, theta), jnp.int32(t))
    for name in theta:  # after t + 1 updates: the mean of theta_0 .. theta_{t+1}
      np.testing.assert_allclose(average[name],
                                 np.mean([th[name] for th in thetas[:t + 2]], axis=0),
                                 rtol=1e-5)
  current = {'w': rng.normal(size=(3, 2)), 'b': rng.normal(size=(2,))}
  np.testing.assert_allclose(improved.historical_penalty(current, average),
                             ref.historical_penalty(current, thetas), rtol=1e-5)


@pytest.mark.parametrize('from_logit', [True, False])
def test_one_sided_label_smoothing_equals_numpy(from_logit):
  rng = np.random.default_rng(5)
  if from_logit:
    lr, lf = rng.normal(size=6), rng.normal(size=6)
    real, fake = losses.from_logit(jnp.asarray(lr)), losses.from_logit(jnp.asarray(lf))
    d_real, d_fake = 1 / (1 + np.exp(-lr)), 1 / (1 + np.exp(-lf))
  else:  # a posterior read from the memory (clipped as every probability output)
    d_real, d_fake = rng.uniform(0.05, 0.95, 6), rng.uniform(0.05, 0.95, 6)
    real, fake = losses.from_probability(jnp.asarray(d_real)), losses.from_probability(
        jnp.asarray(d_fake))
  for alpha in (1.0, 0.9, 0.7):
    for kind in ('jsd', 'alternative'):
      np.testing.assert_allclose(improved.smoothed_d_loss(real, fake, kind, alpha),
                                 ref.smoothed_bce_d_loss(d_real, d_fake, alpha), rtol=1e-5)


# --------------------------------------------------------------------------------------
# In the step, with both models.


def _steps(config, num, devices=1, state=None):
  setup = tiny.setup(config, devices)
  state = training.init_state(setup, jax.random.PRNGKey(0)) if state is None else state
  step = tiny.train_step(config, devices)
  images = fashion_images()[:config.batch_size * num]
  states, metrics = [], []
  for t in range(num):
    batch = images[config.batch_size * t:config.batch_size * (t + 1)]
    if devices > 1:
      batch = batch.reshape((devices, -1) + batch.shape[1:])
    state, m = step(state, batch, jax.random.PRNGKey(1))
    states.append(jax.device_get(state))
    metrics.append(jax.device_get(m))
  return setup, states, metrics


# Off the pmap == jit comparison: under pmap each replica draws its own noise.
NOISE = {'improved.d_input_noise': 0.2, 'improved.d_hidden_noise': 0.3}


@pytest.mark.parametrize('kind', ['memory', 'dcgan'])
def test_every_technique_trains_with_each_model_and_keeps_its_state(kind):
  config = tiny_fashion(**{'model.kind': kind, **ALL_ON, **NOISE})
  setup = tiny.setup(config, 1)
  initial = jax.device_get(training.init_state(setup, jax.random.PRNGKey(0)))
  _, states, metrics = _steps(config, 2)
  for m in metrics:
    assert all(np.isfinite(v) for v in jax.tree.leaves(m))
  # Historical averaging: the running means are the means of theta_0, theta_1, theta_2.
  for name, params in (('g_average', 'g_params'), ('d_average', 'd_params')):
    trajectory = [getattr(s, params) for s in (initial, *states)]
    expected = jax.tree.map(lambda *xs: np.mean(xs, axis=0), *trajectory)
    for a, b in zip(jax.tree.leaves(states[-1].extras[name]), jax.tree.leaves(expected)):
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
  # Virtual batch norm: the reference batch is fixed; G has no batch statistics.
  np.testing.assert_array_equal(states[-1].extras['vbn_reference'],
                                initial.extras['vbn_reference'])
  assert states[-1].extras['vbn_reference'].shape == (4, setup.generator_input_dim)
  assert not jax.tree.leaves(states[-1].g_stats)
  # ... so a sample does not depend on what it is generated with.
  generate = training.make_generate(setup)
  g_in = np.random.default_rng(0).uniform(-1, 1, (5, setup.generator_input_dim))
  g_in = g_in.astype(np.float32)
  np.testing.assert_allclose(generate(states[-1], g_in)[2:3], generate(states[-1], g_in[2:3]),
                             rtol=1e-5, atol=1e-6)


def test_feature_matching_replaces_the_generator_loss():
  config = tiny_fashion(**{'model.kind': 'dcgan', 'improved.feature_matching': 'conv1'})
  setup = tiny.setup(config, 1)
  initial = jax.device_get(training.init_state(setup, jax.random.PRNGKey(0)))
  _, states, metrics = _steps(config, 1)
  # The G loss recomputed outside the step: D as it is after its update (the state's d
  # params), G as it was before its own (the initial g params), the step's noise.
  k_g = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(1), 0), 3)[1]
  g_in, _ = sampling.generator_inputs(setup, None, k_g, config.batch_size)
  fake, _ = training.apply_generator(setup.g_train, initial.g_params, initial.g_stats, g_in,
                                     None, True)
  x_real = sampling.preprocess(fashion_images()[:config.batch_size], 'unit')

  def layer(x):
    variables = {'params': states[0].d_params, 'batch_stats': states[0].d_stats}
    _, new = setup.d_train.apply(variables, x, mutable=['batch_stats', 'intermediates'])
    return np.asarray(models.sown_layer(new['intermediates'], 'conv1'))

  expected = ref.feature_matching(layer(x_real), layer(fake))
  assert expected > 0
  np.testing.assert_allclose(metrics[0]['g_loss'], expected, rtol=1e-4)


def pmap_and_jit_steps(config, num=2):
  """``num`` steps on ``tiny.PMAP_DEVICES`` devices and on one from the same state; asserts
  the replicas stay identical and every state leaf agrees. Returns both runs' metrics
  (several devices, one device)."""
  devices = tiny.PMAP_DEVICES
  _, single, m1 = _steps(config, num)
  _, multi, m8 = _steps(config, num, devices=devices,
                        state=trainer.replicate(training.init_state(
                            tiny.setup(config, 1), jax.random.PRNGKey(0)), devices))
  for leaf in jax.tree.leaves(multi[-1]):  # replicas identical
    for d in range(1, devices):
      np.testing.assert_array_equal(leaf[d], leaf[0])
  pairs = zip(jax.tree_util.tree_flatten_with_path(trainer.unreplicate(multi[-1]))[0],
              jax.tree.leaves(single[-1]))
  for (path, a), b in pairs:
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5, err_msg=jax.tree_util.keystr(path))
  return m8, m1


def test_pmap_step_with_every_technique_equals_the_single_device_step():
  config = tiny_fashion(batch_size=16, loss='jsd', **{'model.kind': 'dcgan', **ALL_ON})
  m8, m1 = pmap_and_jit_steps(config)
  np.testing.assert_allclose(m8[-1]['g_loss'][0], m1[-1]['g_loss'], rtol=1e-4)


def test_discriminator_noise_changes_the_step_and_replicas_stay_identical():
  config = tiny_fashion(batch_size=16, loss='jsd', **{'model.kind': 'dcgan', **NOISE})
  quiet = tiny_fashion(batch_size=16, loss='jsd', **{'model.kind': 'dcgan'})
  _, _, m_noisy = _steps(config, 1)
  _, _, m_plain = _steps(quiet, 1)
  assert abs(float(m_noisy[0]['d_loss']) - float(m_plain[0]['d_loss'])) > 1e-4
  devices = tiny.PMAP_DEVICES
  _, multi, _ = _steps(config, 1, devices=devices, state=trainer.replicate(
      training.init_state(tiny.setup(config, 1), jax.random.PRNGKey(0)), devices))
  for leaf in jax.tree.leaves(multi[-1]):  # the replicas stay identical
    for d in range(1, devices):
      np.testing.assert_array_equal(leaf[d], leaf[0])


def test_technique_state_is_checkpointed_and_resumed(tmp_path):
  config = tiny_fashion(num_steps=2, **ALL_ON)
  trainer.train_and_evaluate(config, str(tmp_path))
  setup = tiny.setup(config, 1)
  target = training.init_state(setup, jax.random.PRNGKey(7))  # other values, same structure
  ckpt = checkpoints.Checkpointer(str(tmp_path / 'checkpoints'), read_only=True)
  try:
    state, step, _ = ckpt.restore_latest(target, config)
  finally:
    ckpt.close()
  assert step == 2
  init_rng = jax.random.split(jax.random.PRNGKey(config.seed), 3)[0]  # as the trainer
  fresh = training.init_state(setup, init_rng)
  np.testing.assert_array_equal(state.extras['vbn_reference'], fresh.extras['vbn_reference'])
  moved = jax.tree.leaves(jax.tree.map(lambda a, b: np.abs(a - b).max(),
                                       state.extras['g_average'], fresh.extras['g_average']))
  assert max(moved) > 0  # the running mean moved with training and came back from disk


def test_checkpoints_of_runs_before_the_techniques_still_restore(tmp_path):
  # A checkpoint as versions before config.improved and TrainState.extras wrote them.
  config = tiny_fashion(num_steps=1)
  setup = tiny.setup(config, 1)
  saved = training.init_state(setup, jax.random.PRNGKey(3))
  old_config = tiny_fashion(num_steps=1)
  del old_config['improved']
  del old_config.model['encoder_hidden_norm']  # added later still: batch norm before
  ckpt = checkpoints.Checkpointer(str(tmp_path))
  ckpt.save(5, jax.device_get(saved.without_extras()), old_config)
  ckpt.close()
  ckpt = checkpoints.Checkpointer(str(tmp_path), read_only=True)
  try:
    state, step, diffs = ckpt.restore_latest(
        training.init_state(setup, jax.random.PRNGKey(0)), config)
  finally:
    ckpt.close()
  assert step == 5 and state.extras is None and isinstance(state, training.TrainState)
  assert not [d for d in diffs if d[0].startswith(('improved', 'model'))], diffs
  for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(saved)):
    np.testing.assert_array_equal(a, b)


BAD = [
    ({'improved.feature_matching': 'conv9'}, "'conv9' is not a layer of this discriminator; "
                                             'its layers: conv0, conv1, conv2, features'),
    ({'improved.minibatch_kernels': -1}, 'minibatch_kernels must be 0'),
    ({'improved.minibatch_kernels': 4, 'improved.minibatch_kernel_dim': 0},
     'minibatch_kernel_dim must be at least 1'),
    ({'improved.label_smoothing': 0.0}, r'label_smoothing .* must be in \(0, 1\]'),
    ({'improved.label_smoothing': 0.9, 'loss': 'updown'}, 'loss=updown has no targets'),
    ({'improved.historical_averaging': -0.5}, 'historical_averaging must be 0'),
    ({'improved.virtual_batch_norm': -2}, 'virtual_batch_norm .* must be 0'),
    ({'improved.d_input_noise': -0.1}, r'd_input_noise \(a standard deviation\) must be 0'),
    ({'improved.d_hidden_noise': float('nan')}, 'd_hidden_noise .* must be 0'),
]


@pytest.mark.parametrize('overrides,message', BAD)
def test_bad_technique_values_are_refused_before_anything_is_made(tmp_path, overrides, message):
  with pytest.raises(trainer.ConfigError, match=message):
    trainer.Trainer(tiny_fashion(**overrides), str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()


def test_virtual_batch_norm_needs_a_generator_with_batch_norm():
  config = tiny_fashion(**{'improved.virtual_batch_norm': 4})
  config.model.generator = 'mlp'
  config.model.generator_kwargs = {'out_dim': 784}
  with pytest.raises(ValueError, match='no batch norm to replace'):
    tiny.setup(config, 1)


def test_the_base_config_documents_the_defaults_of_the_new_sections():
  from experiments.configs import base
  from mgan_jax.gans import semisup
  config = base.base_config()
  assert dict(config.improved) == improved.defaults()
  assert dict(config.semisup) == semisup.defaults()
