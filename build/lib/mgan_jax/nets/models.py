"""Networks: inference nets ``mu`` (image -> key_dim features) and generators, by name.

Configs name their networks (``config.model.encoder``, ``config.model.generator``) and size
them with ``config.model.encoder_kwargs`` / ``generator_kwargs``; :func:`build_models` looks
the names up in :data:`ENCODERS` and :data:`GENERATORS`. No network knows which data set it
serves. The shapes follow the reference code (SPEC section 5); where it has no network
(CelebA, chairs), DCGAN's.
"""

import functools
from typing import Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp

from mgan_jax.nets.layers import ConvBlock, DenseBlock, INIT, ResidualBlock, layer_norm, mean_pool


class ConvEncoder(nn.Module):
  """DCGAN-style ``mu``: 4x4 stride-2 convs, then one conv whose kernel and stride equal the
  remaining spatial size, giving [B, key_dim].

  fashion/mnist (28x28): features (64, 128, 256): 28 -> 14 -> 7 -> 4 -> 1 (SPEC 5).
  affmnist (40x40): features (64, 128, 256) with ``extra_1x1``, as the reference code.
  celeba/chairs (64x64): features (64, 128, 256, 512).
  The first conv has no norm; the others and the final conv have batch norm (slim's
  default, as the reference code's query conv). ``final_norm='none'`` (with a bias) is the
  DCGAN baseline's last layer: batch norm right before a linear logit head would give the
  real and the fake batch (normalised separately) the same mean logit, so D could not tell
  them apart on average.
  """

  key_dim: int
  features: Sequence[int] = (64, 128, 256)
  extra_1x1: bool = False
  final_norm: str = 'bn'
  train: bool = True
  bn_axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x):
    block = functools.partial(ConvBlock, train=self.train, bn_axis_name=self.bn_axis_name)
    for i, f in enumerate(self.features):
      x = block(f, 4, 2, norm='none' if i == 0 else 'bn', act='lrelu')(x)
      if self.extra_1x1 and i > 0:
        x = block(f, 1, 1, act='lrelu')(x)
    size = x.shape[1]
    x = block(self.key_dim, size, size, norm=self.final_norm, act='none')(x)
    return x.reshape(x.shape[0], -1)


class ConvGenerator(nn.Module):
  """DCGAN-style generator: dense layers, reshape, 4x4/2 upsampling convs.

  fashion/mnist: dense (1024 lrelu), base 7x7x128 (relu), up (128,), 1 channel sigmoid
  (SPEC 5). affmnist: base 5x5x256 (lrelu), up (128, 64) with extra 1x1, sigmoid.
  celeba/chairs: base 4x4x512 (relu), up (256, 128, 64), tanh.
  """

  out_channels: int = 1
  base_size: int = 7
  base_features: int = 128
  hidden: Sequence[int] = (1024,)
  base_act: str = 'relu'
  up_features: Sequence[int] = (128,)
  extra_1x1: bool = False
  out_act: str = 'sigmoid'
  train: bool = True
  bn_axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, z):
    dense = functools.partial(DenseBlock, train=self.train, bn_axis_name=self.bn_axis_name)
    block = functools.partial(ConvBlock, train=self.train, bn_axis_name=self.bn_axis_name)
    h = z
    for f in self.hidden:
      h = dense(f, act='lrelu')(h)
    h = dense(self.base_size * self.base_size * self.base_features, act=self.base_act)(h)
    h = h.reshape(h.shape[0], self.base_size, self.base_size, self.base_features)
    for f in self.up_features:
      h = block(f, 4, 2, transpose=True)(h)
      if self.extra_1x1:
        h = block(f, 1, 1)(h)
    h = block(self.out_channels, 4, 2, norm='none', act=self.out_act, transpose=True)(h)
    return h


class ResNetEncoder(nn.Module):
  """The reference code's CIFAR-10 ``mu``: residual blocks with layer norm and ELU."""

  key_dim: int
  features: int = 128
  train: bool = True
  bn_axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x):
    block = functools.partial(ConvBlock, train=self.train, bn_axis_name=self.bn_axis_name)
    res = functools.partial(ResidualBlock, act='elu', norm='ln', train=self.train,
                            bn_axis_name=self.bn_axis_name)
    h = block(self.features, 3, 1, norm='none', act='elu')(x)
    h = mean_pool(block(self.features, 3, 1, norm='none', act='none')(h))
    h = h + mean_pool(block(self.features, 1, 1, norm='none', act='none')(x))
    h = nn.elu(layer_norm()(h))
    h = res('down')(h)
    h = res(None)(h)
    h = res(None)(h)
    q = block(self.key_dim, 4, 2, norm='none', act='none')(h)
    return jnp.mean(q, axis=(1, 2))


class ResNetGenerator(nn.Module):
  """The reference code's CIFAR-10 generator: dense + 3 upsampling residual blocks, tanh."""

  out_channels: int = 3
  base_size: int = 4
  features: int = 128
  num_up: int = 3
  train: bool = True
  bn_axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, z):
    h = DenseBlock(self.base_size * self.base_size * self.features, norm='ln', act='elu',
                   train=self.train, bn_axis_name=self.bn_axis_name)(z)
    h = h.reshape(h.shape[0], self.base_size, self.base_size, self.features)
    for _ in range(self.num_up):
      h = ResidualBlock('up', act='elu', norm='ln', train=self.train,
                        bn_axis_name=self.bn_axis_name)(h)
    return ConvBlock(self.out_channels, 3, 1, norm='none', act='tanh', train=self.train)(h)


class MLPEncoder(nn.Module):
  """For 2D toy data: an MLP to key_dim features."""

  key_dim: int
  hidden: Sequence[int] = (128, 128)
  train: bool = True
  bn_axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x):
    h = x.reshape(x.shape[0], -1)
    for f in self.hidden:
      h = DenseBlock(f, norm='none', act='lrelu')(h)
    return nn.Dense(self.key_dim, kernel_init=INIT)(h)


class MLPGenerator(nn.Module):
  """For 2D toy data: an MLP from [z, K_c] to points."""

  out_dim: int = 2
  hidden: Sequence[int] = (128, 128)
  train: bool = True
  bn_axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, z):
    h = z
    for f in self.hidden:
      h = DenseBlock(f, norm='none', act='relu')(h)
    return nn.Dense(self.out_dim, kernel_init=INIT)(h)


ENCODERS = {
    'conv': ConvEncoder,
    'resnet': ResNetEncoder,
    'mlp': MLPEncoder,
}
GENERATORS = {
    'conv': ConvGenerator,
    'resnet': ResNetGenerator,
    'mlp': MLPGenerator,
}


class Discriminator(nn.Module):
  """``mu`` plus, for the memory-free DCGAN baseline, a logit head.

  Returns ``(features, logit)``: ``features`` [B, key_dim] is mu(x) (the memory's query
  before normalisation); ``logit`` [B] is the baseline's output, None for MemoryGAN.
  """

  encoder: nn.Module
  logit_head: bool = False

  @nn.compact
  def __call__(self, x):
    features = self.encoder(x)
    if not self.logit_head:
      return features, None
    return features, nn.Dense(1, kernel_init=INIT)(features)[:, 0]


def _lookup(registry, name, kind):
  if name not in registry:
    raise ValueError(f'unknown {kind} {name!r}; known: {sorted(registry)}')
  return registry[name]


def build_models(model_config, *, key_dim: int, train: bool,
                 bn_axis_name: Optional[str] = None):
  """``(discriminator, generator)`` modules for a config's ``model`` section.

  ``model_config`` has ``encoder``/``generator`` names, ``encoder_kwargs``/
  ``generator_kwargs`` dicts and ``kind`` ('memory' or 'dcgan').
  """
  encoder_cls = _lookup(ENCODERS, model_config.encoder, 'encoder')
  generator_cls = _lookup(GENERATORS, model_config.generator, 'generator')
  common = dict(train=train, bn_axis_name=bn_axis_name)
  if model_config.kind not in ('memory', 'dcgan'):
    raise ValueError(f"model.kind must be 'memory' or 'dcgan', got {model_config.kind!r}")
  encoder_kwargs = dict(model_config.encoder_kwargs)
  if model_config.kind == 'dcgan' and 'final_norm' in encoder_cls.__dataclass_fields__:
    encoder_kwargs.setdefault('final_norm', 'none')  # no batch norm before the logit head
  encoder = encoder_cls(key_dim=key_dim, **encoder_kwargs, **common)
  generator = generator_cls(**dict(model_config.generator_kwargs), **common)
  return Discriminator(encoder, logit_head=model_config.kind == 'dcgan'), generator
