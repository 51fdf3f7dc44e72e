"""Building blocks of the networks, with the reference code's conventions.

The reference code (TF-slim) gives every conv/fc/deconv layer a truncated-normal(0.02)
initialiser, batch norm without a learned scale and without a bias before it, and ReLU
unless the layer says otherwise; lrelu has slope 0.2.
"""

import functools
from typing import Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

INIT = nn.initializers.truncated_normal(0.02)
lrelu = functools.partial(nn.leaky_relu, negative_slope=0.2)

ACTIVATIONS: dict[str, Callable] = {
    'relu': nn.relu, 'lrelu': lrelu, 'elu': nn.elu, 'tanh': jnp.tanh,
    'sigmoid': nn.sigmoid, 'none': lambda x: x,
}


BN_MOMENTUM = 0.99  # of the batch-norm running averages

NOISE_RNG = 'noise'  # the rng stream of the discriminator's Gaussian noise layers


def gaussian_noise(module: nn.Module, x: jax.Array, std: float) -> jax.Array:
  """``x + std N(0, I)``, drawn from ``module``'s ``'noise'`` rng, when ``std`` > 0, the
  module is in training mode and the apply was given that rng (the train step's
  discriminator applies); otherwise ``x``.

  Initialisation, evaluation and the batch-norm recomputation pass no ``'noise'`` rng, so
  they see the network without noise.
  """
  if std <= 0 or not getattr(module, 'train', True) or not module.has_rng(NOISE_RNG):
    return x
  return x + std * jax.random.normal(module.make_rng(NOISE_RNG), x.shape, x.dtype)


def batch_norm(train: bool, axis_name: Optional[str]) -> nn.BatchNorm:
  """TF-slim's batch norm (no scale, epsilon 1e-3), statistics shared over ``axis_name``.

  With ``axis_name`` set inside ``pmap`` the batch statistics are those of the global batch,
  so a step on 8 devices computes what one device computes on the same global batch.
  Momentum 0.99 (slim: 0.999) so running averages settle within a few hundred steps.
  """
  return nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM, epsilon=1e-3,
                      use_scale=False, axis_name=axis_name)


def layer_norm(ndim: int = 4) -> nn.LayerNorm:
  """tf.contrib.layers.layer_norm: statistics over every non-batch axis (H, W, C for
  images), parameters per channel."""
  return nn.LayerNorm(reduction_axes=tuple(range(1, ndim)), feature_axes=-1, epsilon=1e-6)


class VirtualBatchNorm(nn.Module):
  """Virtual batch normalisation (Salimans et al. 2016, section 3.5), without a scale and
  with a learned bias like :func:`batch_norm`.

  The input's first ``reference_size`` rows are the reference batch, drawn once at the start
  of the run; the others are the examples. The reference rows are normalised with their own
  statistics; each example ``x_i`` with the reference statistics combined with itself, as
  the authors' code does: with ``c = 1 / (R + 1)``,

      mean_i   = c mean(x_i)   + (1 - c) mean(x_ref)
      meansq_i = c mean(x_i^2) + (1 - c) mean(x_ref^2)
      y_i      = (x_i - mean_i) / sqrt(meansq_i - mean_i^2 + eps) + bias

  (means per channel, over the reference batch and the spatial positions). An example's
  output depends on the reference batch and on itself only, not on the other examples: the
  generator's samples do not depend on what they are generated with, in training as in
  sampling, and a step split over devices needs no shared statistics.
  """

  reference_size: int
  epsilon: float = 1e-3

  @nn.compact
  def __call__(self, x):
    r = self.reference_size
    if not 0 < r < x.shape[0]:
      raise ValueError(f'VirtualBatchNorm: the input has {x.shape[0]} rows, needs the '
                       f'{r} reference rows and at least one example')
    axes = tuple(range(1, x.ndim - 1))                     # the spatial axes
    per_row = jnp.mean(x, axis=axes, keepdims=True)
    per_row_sq = jnp.mean(jnp.square(x), axis=axes, keepdims=True)
    ref_mean = jnp.mean(per_row[:r], axis=0, keepdims=True)
    ref_sq = jnp.mean(per_row_sq[:r], axis=0, keepdims=True)
    c = 1.0 / (r + 1.0)
    mean = jnp.concatenate([jnp.broadcast_to(ref_mean, per_row[:r].shape),
                            c * per_row[r:] + (1.0 - c) * ref_mean])
    meansq = jnp.concatenate([jnp.broadcast_to(ref_sq, per_row[:r].shape),
                              c * per_row_sq[r:] + (1.0 - c) * ref_sq])
    var = jnp.maximum(meansq - jnp.square(mean), 0.0)
    bias = self.param('bias', nn.initializers.zeros, (x.shape[-1],))
    return (x - mean) * jax.lax.rsqrt(var + self.epsilon) + bias


def parse_norm(norm: str) -> tuple[str, int]:
  """``'vbn:R'`` -> ('vbn', R); any other name -> (name, 0)."""
  if norm.startswith('vbn:'):
    return 'vbn', int(norm[4:])
  return norm, 0


def norm_and_activate(x, norm: str, act: str, train: bool, bn_axis_name: Optional[str]):
  """slim's normalizer_fn then activation_fn; call inside a compact module.

  ``norm``: 'bn' (batch norm), 'ln' (layer norm), 'vbn:R' (virtual batch norm whose
  reference batch is the input's first R rows) or 'none'.
  """
  kind, reference_size = parse_norm(norm)
  if kind == 'bn':
    x = batch_norm(train, bn_axis_name)(x)
  elif kind == 'ln':
    x = layer_norm(x.ndim)(x)
  elif kind == 'vbn':
    x = VirtualBatchNorm(reference_size)(x)
  elif kind != 'none':
    raise ValueError(f"norm must be 'bn', 'ln', 'vbn:R' or 'none', got {norm!r}")
  return ACTIVATIONS[act](x)


class MinibatchDiscrimination(nn.Module):
  """Minibatch discrimination (Salimans et al. 2016, section 3.2).

  ``M_i = f(x_i) T`` with ``T`` in R^{A x B x C} (A the input features, B ``num_kernels``,
  C ``kernel_dim``), ``c_b(x_i, x_j) = exp(-||M_{i,b} - M_{j,b}||_1)`` and
  ``o(x_i)_b = sum_j c_b(x_i, x_j)`` over the comparison batch, j = i included (the paper's
  sum). Returns ``o`` [n, B]; the caller concatenates it to ``f``.

  The comparison batch is the global batch: inside ``pmap`` (``axis_name`` set) every
  replica compares its rows with the rows of all replicas (an all-gather), so a step split
  over devices computes what one device computes on the same batch.
  """

  num_kernels: int
  kernel_dim: int
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, f):
    t = self.param('T', nn.initializers.normal(0.05),
                   (f.shape[-1], self.num_kernels * self.kernel_dim))
    m = jnp.dot(f, t).reshape(f.shape[0], self.num_kernels, self.kernel_dim)
    others = m
    if self.axis_name is not None:
      others = jax.lax.all_gather(m, self.axis_name, axis=0, tiled=True)
    l1 = jnp.sum(jnp.abs(m[:, None] - others[None]), axis=-1)    # [n, n_all, B]
    return jnp.sum(jnp.exp(-l1), axis=1)


# A 4x4 stride-2 'SAME' transposed convolution (lax.conv_transpose pads the stride-dilated
# input by 2 on each side) computes, along each spatial axis,
#     out[2i]   = w[0] x[i-1] + w[2] x[i]
#     out[2i+1] = w[1] x[i]   + w[3] x[i+1],
# i.e. input i reaches output 2i + 2 - t through tap t.
MATMUL_MIN_CHANNELS = 16  # conv_transpose_4x4: XLA's convolution from this many output channels


def depth_to_space(x: jax.Array, block: int = 2) -> jax.Array:
  """[B, H, W, (a, b, C)] -> [B, H*block, W*block, C] with out[block*i+a, block*j+b]."""
  b, h, w, c = x.shape
  c //= block * block
  x = x.reshape(b, h, w, block, block, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, h * block, w * block, c)


def _shift(y: jax.Array, axis: int, d: int) -> jax.Array:
  """``y[m + d]`` at ``m`` along ``axis`` (d = +-1), zero where that falls outside."""
  n = y.shape[axis]
  pad = [(0, 0)] * y.ndim
  pad[axis] = (0, d) if d > 0 else (-d, 0)
  return jax.lax.slice_in_dim(jnp.pad(y, pad), max(d, 0), max(d, 0) + n, axis=axis)


# Phase a of an axis: its two (tap t, input offset d) pairs, out[2m + a] = sum w[t] x[m + d].
_PHASE_SOURCES = {0: ((2, 0), (0, -1)), 1: ((1, 0), (3, 1))}


def _interleave(phases) -> jax.Array:
  """``phases[a][b]`` [B, H, W, C] -> [B, 2H, 2W, C] with out[2i + a, 2j + b]."""
  b, h, w, c = phases[0][0].shape
  stacked = jnp.stack([phases[a][bb] for a in range(2) for bb in range(2)], axis=3)
  return depth_to_space(stacked.reshape(b, h, w, 4 * c), 2)     # channels (a, b, C)


_NHWC = ('NHWC', 'HWIO', 'NHWC')


def _taps_of_output(dy: jax.Array) -> jax.Array:
  """[B, 2H, 2W, C] -> [B, H, W, 4, 4, C]: for input pixel (i, j) and tap (ty, tx) the
  output pixel it reaches, ``dy[2i + 2 - ty, 2j + 2 - tx]`` (zero outside)."""
  _, h2, w2, _ = dy.shape
  h, w = h2 // 2, w2 // 2
  padded = jnp.pad(dy, ((0, 0), (1, 2), (1, 2), (0, 0)))       # output o at o + 1
  return jnp.stack([jnp.stack([padded[:, 3 - ty:3 - ty + 2 * h:2, 3 - tx:3 - tx + 2 * w:2]
                               for tx in range(4)], axis=3) for ty in range(4)], axis=3)


@jax.custom_vjp
def _conv_transpose_xla(x, kernel):
  """XLA's transposed convolution with :func:`_conv_transpose_xla_bwd` as its gradient.
  Reverse mode only (a ``custom_vjp``): ``jax.jvp`` through a generator that uses it raises;
  nothing in the project takes forward-mode derivatives."""
  return jax.lax.conv_transpose(x, kernel, (2, 2), 'SAME', dimension_numbers=_NHWC)


def _conv_transpose_xla_fwd(x, kernel):
  return _conv_transpose_xla(x, kernel), (x, kernel)


def _conv_transpose_xla_bwd(residuals, dy):
  """The input gradient as XLA computes it (a stride-2 convolution of ``dy``); the kernel
  gradient as one matmul of the inputs with each input pixel's 16 output taps of ``dy``
  (XLA:CPU's own kernel gradient, a convolution with a window over the batch, took 277 ms
  here for the fashion generator's middle layer; this one 9 ms)."""
  x, kernel = residuals
  b, h, w, c_in = x.shape
  dx = jax.lax.conv_general_dilated(
      jnp.pad(dy, ((0, 0), (1, 2), (1, 2), (0, 0))),
      kernel[::-1, ::-1].transpose(0, 1, 3, 2), (2, 2), 'VALID', dimension_numbers=_NHWC)
  taps = _taps_of_output(dy).reshape(b * h * w, -1)                 # [BHW, (ty, tx, C_out)]
  dk = jnp.dot(x.reshape(b * h * w, c_in).T, taps)
  return dx, dk.reshape(c_in, 4, 4, -1).transpose(1, 2, 0, 3)


_conv_transpose_xla.defvjp(_conv_transpose_xla_fwd, _conv_transpose_xla_bwd)


def conv_transpose_4x4(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """``lax.conv_transpose(x, kernel, (2, 2), 'SAME')`` for a 4x4 kernel, fast on XLA:CPU.

  With many output channels: XLA's own transposed convolution and input gradient, with the
  kernel gradient as a matmul (:func:`_conv_transpose_xla_bwd`). With few output channels
  (an image layer) each input pixel's 16 taps come from one matmul to ``16 C_out`` columns
  and each output phase adds its four (tap, shifted input) terms (``_PHASE_SOURCES``): 2.8x
  faster forward and backward than a convolution there (WORKSPACE.md, issue 16).
  """
  b, h, w, c_in = x.shape
  c_out = kernel.shape[-1]
  kernel = kernel.astype(x.dtype)
  if c_out >= MATMUL_MIN_CHANNELS:
    return _conv_transpose_xla(x, kernel)
  taps = jnp.dot(x.reshape(b * h * w, c_in),
                 kernel.transpose(2, 0, 1, 3).reshape(c_in, 16 * c_out))
  taps = taps.reshape(b, h, w, 4, 4, c_out)
  phases = []
  for a in range(2):
    row = []
    for bb in range(2):
      total = 0.0
      for ty, dy in _PHASE_SOURCES[a]:
        for tx, dx in _PHASE_SOURCES[bb]:
          term = taps[:, :, :, ty, tx]
          term = _shift(term, 1, dy) if dy else term
          total = total + (_shift(term, 2, dx) if dx else term)
      row.append(total)
    phases.append(row)
  return _interleave(phases)


class ConvTranspose4x4(nn.Module):
  """Exactly ``nn.ConvTranspose(features, (4, 4), (2, 2), padding='SAME')``, computed as one
  2x2 convolution to 4x the channels plus an interleave of the phases.

  Same parameters (``kernel`` [4, 4, C_in, C_out], ``bias``) as the flax layer. XLA:CPU's
  transposed convolution is several times slower than this form (WORKSPACE.md has the
  measurement); on TPU/GPU both are fast.
  """

  features: int
  use_bias: bool = True
  kernel_init: Callable = INIT

  @nn.compact
  def __call__(self, x):
    c_in = x.shape[-1]
    kernel = self.param('kernel', self.kernel_init, (4, 4, c_in, self.features))
    y = conv_transpose_4x4(x, kernel)
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,)).astype(y.dtype)
    return y


class WeightNormConv(nn.Module):
  """A 'SAME' conv with weight normalisation (Salimans & Kingma 2016), the layer of
  Salimans et al. 2016's semi-supervised discriminators:

      W[..., o] = g_o v[..., o] / ||v[..., o]||_2,      y = conv(x, W) + b

  (the norm over each output channel's kernel: height, width and input channels). ``g``
  (``scale``) starts at 1, so each output channel starts as a unit-norm filter: the output's
  scale follows the input's, as the paper's data-dependent initialisation aims for, without
  its extra pass over a batch. The reparametrisation changes the gradient, not what the layer
  can compute; an example's output depends on itself only.
  """

  features: int
  kernel: int = 4
  stride: int = 1
  epsilon: float = 1e-12

  @nn.compact
  def __call__(self, x):
    v = self.param('kernel', INIT, (self.kernel, self.kernel, x.shape[-1], self.features))
    g = self.param('scale', nn.initializers.ones, (self.features,))
    b = self.param('bias', nn.initializers.zeros, (self.features,))
    norm = jnp.sqrt(jnp.sum(jnp.square(v), axis=(0, 1, 2)) + self.epsilon)
    w = v * (g / norm)
    y = jax.lax.conv_general_dilated(x, w.astype(x.dtype), (self.stride, self.stride), 'SAME',
                                     dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    return y + b.astype(y.dtype)


class ConvBlock(nn.Module):
  """conv (or 4x4/2 upsampling deconv) -> optional norm -> activation, slim-style.

  ``norm='wn'`` is a weight-normalised conv (:class:`WeightNormConv`, with a bias) and no
  normalisation of the activations; the upsampling deconv has no weight-normalised form.
  """

  features: int
  kernel: int = 4
  stride: int = 1
  norm: str = 'bn'          # 'bn', 'ln', 'vbn:R', 'wn' or 'none'
  act: str = 'relu'
  transpose: bool = False   # True: a 4x4 stride-2 upsampling (ConvTranspose4x4)
  train: bool = True
  bn_axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x):
    use_bias = self.norm == 'none'
    if self.norm == 'wn':
      if self.transpose:
        raise ValueError("norm='wn' (a weight-normalised conv) has no upsampling form")
      x = WeightNormConv(self.features, self.kernel, self.stride)(x)
      return ACTIVATIONS[self.act](x)
    if self.transpose:
      if (self.kernel, self.stride) != (4, 2):
        raise ValueError('transpose=True is the 4x4 stride-2 upsampling only')
      x = ConvTranspose4x4(self.features, use_bias=use_bias)(x)
    else:
      x = nn.Conv(self.features, (self.kernel, self.kernel), (self.stride, self.stride),
                  padding='SAME', use_bias=use_bias, kernel_init=INIT)(x)
    return norm_and_activate(x, self.norm, self.act, self.train, self.bn_axis_name)


class DenseBlock(nn.Module):
  features: int
  norm: str = 'bn'
  act: str = 'relu'
  train: bool = True
  bn_axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x):
    x = nn.Dense(self.features, use_bias=self.norm == 'none', kernel_init=INIT)(x)
    return norm_and_activate(x, self.norm, self.act, self.train, self.bn_axis_name)


def mean_pool(x):
  """2x2 mean pooling: the reference's conv_mean_pool averages the four phases."""
  return (x[:, ::2, ::2] + x[:, 1::2, ::2] + x[:, ::2, 1::2] + x[:, 1::2, 1::2]) / 4.0


def upsample_nearest(x):
  """The reference's resize_conv2d upsampling: 4 copies + depth-to-space (nearest)."""
  return depth_to_space(jnp.concatenate([x] * 4, axis=-1), 2)


class ResidualBlock(nn.Module):
  """The reference's residual_block for CIFAR-10 (resample 'down', 'up' or None).

  The first convolution keeps slim's default batch norm, as in the reference code; the
  block ends with ``act(norm(h + shortcut))``.
  """

  resample: Optional[str] = None
  act: str = 'elu'
  norm: str = 'ln'
  train: bool = True
  bn_axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    block = functools.partial(ConvBlock, train=self.train, bn_axis_name=self.bn_axis_name)
    if self.resample == 'down':
      h = block(c, 3, 1, act=self.act)(x)
      h = mean_pool(block(c, 3, 1, norm='none', act='none')(h))
      h = h + mean_pool(block(c, 1, 1, norm='none', act='none')(x))
    elif self.resample == 'up':
      h = block(c, 3, 1, act=self.act)(upsample_nearest(x))
      h = block(c, 3, 1, norm='none', act='none')(h)
      h = h + block(c, 1, 1, norm='none', act='none')(upsample_nearest(x))
    elif self.resample is None:
      h = block(c, 3, 1, act=self.act)(x)
      h = block(c, 3, 1, norm='none', act='none')(h) + x
    else:
      raise ValueError(f'resample must be down, up or None, got {self.resample!r}')
    return norm_and_activate(h, self.norm, self.act, self.train, self.bn_axis_name)


def group_rows(x: jax.Array, k: int) -> jax.Array:
  """[B, ...] -> [k, B / k, ...]: row r goes to group ``r mod k`` (MAD-GAN's generators)."""
  if x.shape[0] % k:
    raise ValueError(f'{x.shape[0]} generator inputs do not split over {k} generators; '
                     f'use a multiple of {k}')
  return jnp.swapaxes(x.reshape((x.shape[0] // k, k) + x.shape[1:]), 0, 1)


def ungroup_rows(x: jax.Array) -> jax.Array:
  """The inverse of :func:`group_rows`: [k, B / k, ...] -> [B, ...]."""
  return jnp.swapaxes(x, 0, 1).reshape((-1,) + x.shape[2:])


STACKINGS = ('vmap', 'scan')


@functools.lru_cache(maxsize=None)
def _carried(module_cls):
  """``module_cls`` with the ``(carry, x) -> (carry, y)`` call ``nn.scan`` needs; its
  variables are named as ``module_cls``'s, so 'scan' and 'vmap' share one layout."""
  class Carried(module_cls):
    def __call__(self, carry, x):  # pylint: disable=arguments-differ
      return carry, super().__call__(x)
  Carried.__name__ = module_cls.__name__
  return Carried


class PerGenerator(nn.Module):
  """``k`` copies of ``module_cls(**kwargs)``, their variables stacked on a leading axis and
  applied with ``vmap`` (one compile, no Python loop): row r of the input goes through copy
  ``r mod k``. Batch statistics are per copy (over its own rows, and over the devices of
  ``bn_axis_name`` when the module has one)."""

  module_cls: Callable
  k: int
  kwargs: tuple = ()   # (name, value) pairs of module_cls's fields
  # True: every copy sees every row and row r keeps copy r mod k's output. For a last layer
  # (no batch statistics) this is the same function, and XLA runs it as one layer with k
  # times the output features instead of a k-group convolution (2.2x faster fashion step
  # on a CPU; the layer is a small share of the step's FLOPs).
  broadcast: bool = False
  # How the copies run on their own rows: 'vmap' (one batched computation: a k-group
  # convolution for conv layers) or 'scan' (a compiled loop over the copies, each a plain
  # layer on its rows; 2.3x faster for the fashion generator's forward+backward on a CPU).
  # The same variables, the same outputs.
  stacking: str = 'vmap'

  @nn.compact
  def __call__(self, x):
    if self.stacking not in STACKINGS:
      raise ValueError(f'stacking must be one of {STACKINGS}, got {self.stacking!r}')
    if self.stacking == 'scan' and not self.broadcast:
      looped = nn.scan(_carried(self.module_cls),
                       variable_axes={'params': 0, 'batch_stats': 0, 'intermediates': 0},
                       split_rngs={'params': True}, in_axes=0, out_axes=0, length=self.k)
      _, out = looped(**dict(self.kwargs), name='stack')(None, group_rows(x, self.k))
      return ungroup_rows(out)
    stacked = nn.vmap(self.module_cls,
                      variable_axes={'params': 0, 'batch_stats': 0, 'intermediates': 0},
                      split_rngs={'params': True}, in_axes=None if self.broadcast else 0,
                      out_axes=0, axis_size=self.k)
    module = stacked(**dict(self.kwargs), name='stack')
    if not self.broadcast:
      return ungroup_rows(module(group_rows(x, self.k)))
    group_rows(x[:, None], self.k)  # the same refusal of a row count k does not divide
    out = module(x)                                               # [k, B, ...]
    mine = jnp.arange(self.k)[:, None] == jnp.arange(x.shape[0])[None] % self.k
    return jnp.sum(jnp.where(mine.reshape(mine.shape + (1,) * (out.ndim - 2)), out, 0.0),
                   axis=0)


def last_layer(num_generators: int, module_cls: Callable, **kwargs):
  """A generator's last layer: one ``module_cls(**kwargs)``, or ``num_generators`` stacked
  copies (:class:`PerGenerator`; MAD-GAN's generators sharing every other layer)."""
  if num_generators <= 1:
    return module_cls(**kwargs)
  return PerGenerator(module_cls, num_generators, tuple(sorted(kwargs.items())),
                      broadcast=True)
