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
import numpy as np

INIT = nn.initializers.truncated_normal(0.02)
lrelu = functools.partial(nn.leaky_relu, negative_slope=0.2)

ACTIVATIONS: dict[str, Callable] = {
    'relu': nn.relu, 'lrelu': lrelu, 'elu': nn.elu, 'tanh': jnp.tanh,
    'sigmoid': nn.sigmoid, 'none': lambda x: x,
}


def batch_norm(train: bool, axis_name: Optional[str]) -> nn.BatchNorm:
  """TF-slim's batch norm (no scale, epsilon 1e-3), statistics shared over ``axis_name``.

  With ``axis_name`` set inside ``pmap`` the batch statistics are those of the global batch,
  so a step on 8 devices computes what one device computes on the same global batch.
  Momentum 0.99 (slim: 0.999) so running averages settle within a few hundred steps.
  """
  return nn.BatchNorm(use_running_average=not train, momentum=0.99, epsilon=1e-3,
                      use_scale=False, axis_name=axis_name)


def layer_norm(ndim: int = 4) -> nn.LayerNorm:
  """tf.contrib.layers.layer_norm: statistics over every non-batch axis (H, W, C for
  images), parameters per channel."""
  return nn.LayerNorm(reduction_axes=tuple(range(1, ndim)), feature_axes=-1, epsilon=1e-6)


def norm_and_activate(x, norm: str, act: str, train: bool, bn_axis_name: Optional[str]):
  """slim's normalizer_fn then activation_fn; call inside a compact module."""
  if norm == 'bn':
    x = batch_norm(train, bn_axis_name)(x)
  elif norm == 'ln':
    x = layer_norm(x.ndim)(x)
  elif norm != 'none':
    raise ValueError(f"norm must be 'bn', 'ln' or 'none', got {norm!r}")
  return ACTIVATIONS[act](x)


# A 4x4 stride-2 'SAME' transposed convolution (lax.conv_transpose pads the stride-dilated
# input by 2 on each side) computes, along each spatial axis,
#     out[2i]   = w[0] x[i-1] + w[2] x[i]
#     out[2i+1] = w[1] x[i]   + w[3] x[i+1].
# So it equals a 3x3 'SAME' convolution to 4 C channels (one block per output phase, taps
# at offsets -1, 0, +1) followed by depth-to-space. _PHASE_TAPS[phase][offset] is the index
# of the 4x4 kernel tap at that 3x3 offset, or -1 for none.
_PHASE_TAPS = ((0, 2, -1), (-1, 1, 3))


def _subpixel_selector() -> np.ndarray:
  """S[dy, dx, a, b, u, v] = 1 where 3x3 tap (dy, dx) of phase (a, b) is 4x4 tap (u, v)."""
  s = np.zeros((3, 3, 2, 2, 4, 4), np.float32)
  for a in range(2):
    for b in range(2):
      for dy in range(3):
        for dx in range(3):
          u, v = _PHASE_TAPS[a][dy], _PHASE_TAPS[b][dx]
          if u >= 0 and v >= 0:
            s[dy, dx, a, b, u, v] = 1.0
  return s


_SELECTOR = _subpixel_selector()


def depth_to_space(x: jax.Array, block: int = 2) -> jax.Array:
  """[B, H, W, (a, b, C)] -> [B, H*block, W*block, C] with out[block*i+a, block*j+b]."""
  b, h, w, c = x.shape
  c //= block * block
  x = x.reshape(b, h, w, block, block, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, h * block, w * block, c)


class ConvTranspose4x4(nn.Module):
  """Exactly ``nn.ConvTranspose(features, (4, 4), (2, 2), padding='SAME')``, computed as a
  3x3 convolution to 4x the channels plus depth-to-space.

  Same parameters (``kernel`` [4, 4, C_in, C_out], ``bias``) as the flax layer. XLA:CPU's
  transposed convolution is ~4x slower than this form (WORKSPACE.md has the measurement);
  on TPU/GPU both are fast.
  """

  features: int
  use_bias: bool = True
  kernel_init: Callable = INIT

  @nn.compact
  def __call__(self, x):
    c_in = x.shape[-1]
    kernel = self.param('kernel', self.kernel_init, (4, 4, c_in, self.features))
    kernel3 = jnp.einsum('yxabuv,uvio->yxiabo', _SELECTOR, kernel.astype(x.dtype))
    kernel3 = kernel3.reshape(3, 3, c_in, 4 * self.features)
    y = jax.lax.conv_general_dilated(x, kernel3, (1, 1), 'SAME',
                                     dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    y = depth_to_space(y, 2)
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,)).astype(y.dtype)
    return y


class ConvBlock(nn.Module):
  """conv (or 4x4/2 upsampling deconv) -> optional norm -> activation, slim-style."""

  features: int
  kernel: int = 4
  stride: int = 1
  norm: str = 'bn'          # 'bn', 'ln' or 'none'
  act: str = 'relu'
  transpose: bool = False   # True: a 4x4 stride-2 upsampling (ConvTranspose4x4)
  train: bool = True
  bn_axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x):
    use_bias = self.norm == 'none'
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
