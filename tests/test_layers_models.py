"""Layers (the exact 4x4/2 transposed convolution, both forms, and its gradients), the
network registry, the losses."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from mgan_jax.nets import layers
from mgan_jax.gans import losses
from mgan_jax.nets import models


@pytest.mark.parametrize('shape,features', [((2, 7, 7, 3), 4), ((1, 5, 9, 1), 2),
                                            ((3, 4, 4, 8), 1), ((2, 5, 6, 8), 16)])
def test_conv_transpose_4x4_equals_flax_conv_transpose(shape, features):
  x = jax.random.normal(jax.random.PRNGKey(0), shape)
  reference = nn.ConvTranspose(features, (4, 4), (2, 2), padding='SAME')
  params = jax.jit(reference.init)(jax.random.PRNGKey(1), x)
  params = jax.tree.map(lambda p: p + 0.1 * jax.random.normal(jax.random.PRNGKey(2), p.shape),
                        params)  # a non-zero bias too
  ours = layers.ConvTranspose4x4(features)
  shapes = jax.tree.map(jnp.shape, jax.eval_shape(ours.init, jax.random.PRNGKey(1), x))
  assert shapes == jax.tree.map(jnp.shape, params)
  # Each side compiled whole (op by op, every operation would compile on its own).
  np.testing.assert_allclose(jax.jit(ours.apply)(params, x), jax.jit(reference.apply)(params, x),
                             rtol=1e-5, atol=1e-5)
  # ... and its gradients with respect to input and kernel.
  g_ref = jax.jit(jax.grad(lambda p, x: jnp.sum(jnp.sin(reference.apply(p, x))), (0, 1)))(
      params, x)
  g_our = jax.jit(jax.grad(lambda p, x: jnp.sum(jnp.sin(ours.apply(p, x))), (0, 1)))(params, x)
  for a, b in zip(jax.tree.leaves(g_our), jax.tree.leaves(g_ref)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_depth_to_space_places_phases():
  x = np.arange(2 * 2 * 4, dtype=np.float32).reshape(1, 2, 1, 8)  # H=2, W=1, 2x2 phases of C=2
  y = np.asarray(layers.depth_to_space(jnp.asarray(x)))
  assert y.shape == (1, 4, 2, 2)
  # out[2i + a, 2j + b, c] = x[i, j, (2a + b) * C + c]
  for i in range(2):
    for a in range(2):
      for b in range(2):
        phase = 2 * a + b
        np.testing.assert_array_equal(y[0, 2 * i + a, b], x[0, i, 0, 2 * phase:2 * phase + 2])


def test_mean_pool_and_nearest_upsampling():
  x = jnp.arange(16.0).reshape(1, 4, 4, 1)
  np.testing.assert_allclose(layers.mean_pool(x)[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])
  up = layers.upsample_nearest(jnp.arange(4.0).reshape(1, 2, 2, 1))
  want = np.repeat(np.repeat(np.arange(4.0).reshape(2, 2), 2, 0), 2, 1)
  np.testing.assert_array_equal(up[0, :, :, 0], want)


def _model_config(encoder, generator, enc_kwargs, gen_kwargs, kind='memory'):
  return ml_collections.ConfigDict(dict(kind=kind, encoder=encoder, generator=generator,
                                        encoder_kwargs=enc_kwargs, generator_kwargs=gen_kwargs))


@pytest.mark.parametrize('image_shape,enc,gen,enc_kwargs,gen_kwargs', [
    ((28, 28, 1), 'conv', 'conv', {'features': (8, 8, 8)},
     {'out_channels': 1, 'base_size': 7, 'base_features': 8, 'hidden': (16,),
      'up_features': (8,), 'out_act': 'sigmoid'}),
    ((40, 40, 1), 'conv', 'conv', {'features': (8, 8, 8), 'extra_1x1': True},
     {'out_channels': 1, 'base_size': 5, 'base_features': 8, 'hidden': (), 'base_act': 'lrelu',
      'up_features': (8, 8), 'extra_1x1': True, 'out_act': 'sigmoid'}),
    ((32, 32, 3), 'resnet', 'resnet', {'features': 8},
     {'out_channels': 3, 'base_size': 4, 'features': 8, 'num_up': 3}),
    ((64, 64, 3), 'conv', 'conv', {'features': (8, 8, 8, 8)},
     {'out_channels': 3, 'base_size': 4, 'base_features': 8, 'hidden': (),
      'up_features': (8, 8, 8), 'out_act': 'tanh'}),
    ((2,), 'mlp', 'mlp', {'hidden': (16,)}, {'out_dim': 2, 'hidden': (16,)}),
])
def test_registry_networks_have_the_right_shapes(image_shape, enc, gen, enc_kwargs, gen_kwargs):
  for kind in ('memory', 'dcgan'):
    d, g = models.build_models(_model_config(enc, gen, enc_kwargs, gen_kwargs, kind),
                               key_dim=12, train=True)
    # Shapes only, traced and never compiled (every config's training test runs them).
    x = jax.ShapeDtypeStruct((3,) + image_shape, jnp.float32)
    d_vars = jax.eval_shape(d.init, jax.random.PRNGKey(0), x)
    (features, logit), _ = jax.eval_shape(lambda v, x: d.apply(v, x, mutable=['batch_stats']),
                                          d_vars, x)
    assert features.shape == (3, 12)
    assert (logit is None) == (kind == 'memory')
    if logit is not None:
      assert logit.shape == (3,)
    z = jax.ShapeDtypeStruct((3, 6), jnp.float32)
    g_vars = jax.eval_shape(g.init, jax.random.PRNGKey(1), z)
    out, _ = jax.eval_shape(lambda v, z: g.apply(v, z, mutable=['batch_stats']), g_vars, z)
    assert out.shape == (3,) + image_shape


def test_dcgan_logit_mean_depends_on_the_batch():
  # Batch norm right before a linear head would centre every batch: the mean logit of a real
  # and of a fake batch (normalised separately in training mode) would both equal the bias.
  config = _model_config('conv', 'conv', {'features': (8, 8, 8)},
                         {'out_channels': 1, 'base_size': 7, 'base_features': 8,
                          'hidden': (16,), 'up_features': (8,), 'out_act': 'sigmoid'}, 'dcgan')
  d, _ = models.build_models(config, key_dim=12, train=True)
  a = jax.random.uniform(jax.random.PRNGKey(0), (16, 28, 28, 1))
  b = 0.5 * jax.random.uniform(jax.random.PRNGKey(1), (16, 28, 28, 1)) ** 3
  d_vars = d.init(jax.random.PRNGKey(2), a)
  (_, logit_a), _ = d.apply(d_vars, a, mutable=['batch_stats'])
  (_, logit_b), _ = d.apply(d_vars, b, mutable=['batch_stats'])
  gap = abs(float(jnp.mean(logit_a) - jnp.mean(logit_b)))
  assert gap > 0.1 * float(jnp.std(logit_a)), (gap, float(jnp.std(logit_a)))
  # MemoryGAN keeps the reference code's batch norm on the query conv: centred features.
  config.kind = 'memory'
  memory_d, _ = models.build_models(config, key_dim=12, train=True)
  m_vars = memory_d.init(jax.random.PRNGKey(2), a)
  (features, _), _ = memory_d.apply(m_vars, b, mutable=['batch_stats'])
  np.testing.assert_allclose(jnp.mean(features, axis=0), 0.0, atol=1e-5)


def test_unknown_network_names_are_listed():
  known = r"unknown encoder 'vit'; known: \['conv', 'mlp', 'resnet'\]"
  with pytest.raises(ValueError, match=known):
    models.build_models(_model_config('vit', 'conv', {}, {}), key_dim=4, train=True)


# --------------------------------------------------------------------------------------
# Losses against the reference code's formulas, in NumPy.


def _np_losses(p_real, p_fake, kind):
  clip = lambda p: np.clip(p, 1e-3, 1 - 1e-3)
  ce = lambda y: np.mean(-np.log(clip(y)))
  loss_real, loss_fake, loss_fake_ = ce(p_real), ce(1 - p_fake), ce(p_fake)
  return {'jsd': (loss_real + loss_fake, -loss_fake),
          'alternative': (loss_real + loss_fake, loss_fake_),
          'reverse_kl': (loss_real + loss_fake, loss_fake_ - loss_fake),
          'updown': (np.mean(-p_real + p_fake), np.mean(-p_fake))}[kind]


@pytest.mark.parametrize('kind', losses.LOSSES)
def test_losses_match_the_reference_formulas(kind):
  rs = np.random.RandomState(0)
  p_real = np.concatenate([rs.uniform(0, 1, 10), [0.0, 1.0, 1e-5]]).astype(np.float32)
  p_fake = np.concatenate([rs.uniform(0, 1, 10), [1.0, 0.0, 1 - 1e-6]]).astype(np.float32)
  d = losses.discriminator_loss(losses.from_probability(jnp.asarray(p_real)),
                                losses.from_probability(jnp.asarray(p_fake)), kind)
  g = losses.generator_loss(losses.from_probability(jnp.asarray(p_fake)), kind)
  want_d, want_g = _np_losses(p_real.astype(np.float64), p_fake.astype(np.float64), kind)
  np.testing.assert_allclose(d, want_d, rtol=1e-5)
  np.testing.assert_allclose(g, want_g, rtol=1e-5, atol=1e-6)


def test_logit_losses_are_the_sigmoid_cross_entropies():
  logits = jnp.asarray([-30.0, -2.0, 0.0, 3.0, 40.0])
  out = losses.from_logit(logits)
  l64 = np.asarray(logits, np.float64)
  np.testing.assert_allclose(out.log_prob, -np.log1p(np.exp(-l64)), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(out.log_not, -np.log1p(np.exp(l64)), rtol=1e-5, atol=1e-6)
  assert np.all(np.isfinite(out.log_prob)) and np.all(np.isfinite(out.log_not))
  with pytest.raises(ValueError, match='unknown loss'):
    losses.generator_loss(out, 'hinge')


def _numpy_conv_same(x, w, stride):
  """A 'SAME' convolution by loops: x [B, H, W, C], w [k, k, C, O] (TensorFlow's padding:
  the total pad max((out - 1) s + k - in, 0), the smaller half before)."""
  b, h, wd, c = x.shape
  k, o = w.shape[0], w.shape[-1]
  out_h, out_w = -(-h // stride), -(-wd // stride)
  pad_h, pad_w = max((out_h - 1) * stride + k - h, 0), max((out_w - 1) * stride + k - wd, 0)
  xp = np.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2),
                  (0, 0)))
  y = np.zeros((b, out_h, out_w, o))
  for i in range(out_h):
    for j in range(out_w):
      patch = xp[:, i * stride:i * stride + k, j * stride:j * stride + k, :]
      y[:, i, j] = np.einsum('bhwc,hwco->bo', patch, w)
  return y


@pytest.mark.parametrize('shape,kernel,stride', [((2, 6, 6, 3), 4, 2), ((1, 4, 4, 5), 4, 4),
                                                 ((2, 5, 7, 2), 3, 1)])
def test_weight_norm_conv_against_numpy(shape, kernel, stride):
  """y = conv(x, g v / ||v||) + b, the norm over each output channel's kernel; g starts at
  1 (unit-norm filters), and the layer's output does not change when v is scaled."""
  rng = np.random.default_rng(0)
  x = rng.normal(size=shape).astype(np.float32)
  layer = layers.WeightNormConv(3, kernel, stride)
  params = layer.init(jax.random.PRNGKey(0), x)['params']
  np.testing.assert_array_equal(params['scale'], np.ones(3))
  params = {'kernel': rng.normal(size=params['kernel'].shape).astype(np.float32),
            'scale': np.asarray([0.5, 2.0, -1.5], np.float32),
            'bias': np.asarray([0.1, -0.2, 0.3], np.float32)}
  v = params['kernel'].astype(np.float64)
  w = v * params['scale'] / np.sqrt(np.sum(v ** 2, axis=(0, 1, 2)))
  want = _numpy_conv_same(x.astype(np.float64), w, stride) + params['bias']
  got = layer.apply({'params': params}, x)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
  scaled = dict(params, kernel=params['kernel'] * 7.0)
  np.testing.assert_allclose(layer.apply({'params': scaled}, x), got, rtol=1e-4, atol=1e-5)


def test_weight_norm_in_the_encoder_covers_every_conv():
  """encoder_hidden_norm='wn' under a logit head: the first, hidden and last convs are
  weight-normalised (a scale each), nothing has batch norm; the deconv refuses 'wn'."""
  config = _model_config('conv', 'conv', {'features': (4, 8, 8)},
                         {'out_channels': 1, 'base_size': 7, 'base_features': 8,
                          'hidden': (), 'up_features': (8,), 'out_act': 'sigmoid'}, 'dcgan')
  config.encoder_hidden_norm = 'wn'
  d, _ = models.build_models(config, key_dim=6, train=True)
  variables = d.init(jax.random.PRNGKey(1), jnp.zeros((2, 28, 28, 1)))
  convs = variables['params']['encoder']
  assert len(convs) == 4 and all('scale' in block['WeightNormConv_0']
                                 for block in convs.values())
  assert 'batch_stats' not in variables
  with pytest.raises(ValueError, match="no upsampling form"):
    layers.ConvBlock(4, 4, 2, norm='wn', transpose=True).init(jax.random.PRNGKey(0),
                                                              jnp.zeros((1, 3, 3, 2)))


@pytest.mark.parametrize('norm,per_example', [('bn', False), ('ln', True), ('wn', True),
                                              ('none', True)])
def test_encoder_hidden_norm_decides_whether_an_example_sees_its_batch(norm, per_example):
  """With 'ln' or 'none' on the hidden convs (and no norm on the last layer, as under a
  logit head), an example's features do not depend on the rest of its batch; with batch
  norm they do."""
  config = _model_config('conv', 'conv', {'features': (4, 8, 8)},
                         {'out_channels': 1, 'base_size': 7, 'base_features': 8,
                          'hidden': (), 'up_features': (8,), 'out_act': 'sigmoid'}, 'dcgan')
  config.encoder_hidden_norm = norm
  d, _ = models.build_models(config, key_dim=6, train=True)
  x = jax.random.uniform(jax.random.PRNGKey(0), (4, 28, 28, 1))
  variables = d.init(jax.random.PRNGKey(1), x)
  (alone, _), _ = d.apply(variables, x[:2], mutable=['batch_stats'])
  (together, _), _ = d.apply(variables, x, mutable=['batch_stats'])
  assert np.allclose(alone, together[:2], atol=1e-5) == per_example
  assert ('batch_stats' in variables) == (norm == 'bn')


def test_encoder_hidden_norm_is_refused_by_an_encoder_without_it():
  config = _model_config('mlp', 'mlp', {'hidden': (16,)}, {'out_dim': 2, 'hidden': (16,)},
                         'memory')
  config.encoder_hidden_norm = 'ln'
  with pytest.raises(ValueError, match="encoder 'mlp' has no hidden_norm option"):
    models.build_models(config, key_dim=4, train=True)
