"""Networks: inference nets ``mu`` (image -> key_dim features) and generators, by name.

Configs name their networks (``config.model.encoder``, ``config.model.generator``) and size
them with ``config.model.encoder_kwargs`` / ``generator_kwargs``; :func:`build_models` looks
the names up in :data:`ENCODERS` and :data:`GENERATORS`. No network knows which data set it
serves. The shapes follow the reference code (SPEC section 5); where it has no network
(CelebA, chairs), DCGAN's.
"""

import functools
from typing import Callable, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from mgan_jax.nets.layers import (ConvBlock, DenseBlock, INIT, MinibatchDiscrimination,
                                  PerGenerator, ResidualBlock, gaussian_noise, last_layer,
                                  layer_norm, mean_pool)


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

  ``hidden_norm`` is the norm of the hidden convs after the first ('bn', 'ln', 'wn' or
  'none'). With batch norm, each apply (the real, the fake, the labelled batch) is
  normalised with its own statistics; Salimans et al.'s semi-supervised discriminators use
  none, and 'ln' normalises each example alone. 'wn' is their discriminator: every conv is
  weight-normalised (:class:`~mgan_jax.nets.layers.WeightNormConv`), the first too, and the
  last when it has no batch norm (``final_norm='none'``, under a logit head); no activation
  is normalised.
  """

  key_dim: int
  features: Sequence[int] = (64, 128, 256)
  extra_1x1: bool = False
  final_norm: str = 'bn'
  hidden_norm: str = 'bn'
  input_noise: float = 0.0    # Gaussian noise std on the input, in training (NOISE_RNG)
  hidden_noise: float = 0.0   # ... on each hidden layer's output
  train: bool = True
  bn_axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x):
    block = functools.partial(ConvBlock, train=self.train, bn_axis_name=self.bn_axis_name)
    x = gaussian_noise(self, x, self.input_noise)
    wn = self.hidden_norm == 'wn'
    first = 'wn' if wn else 'none'
    for i, f in enumerate(self.features):
      x = block(f, 4, 2, norm=first if i == 0 else self.hidden_norm, act='lrelu')(x)
      if self.extra_1x1 and i > 0:
        x = block(f, 1, 1, norm=self.hidden_norm, act='lrelu')(x)
      self.sow('intermediates', f'conv{i}', x)
      x = gaussian_noise(self, x, self.hidden_noise)
    size = x.shape[1]
    final = 'wn' if wn and self.final_norm == 'none' else self.final_norm
    x = block(self.key_dim, size, size, norm=final, act='none')(x)
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
  norm: str = 'bn'          # 'bn', or 'vbn:R' (virtual batch norm, reference = first R rows)
  num_generators: int = 1   # > 1: that many stacked last layers (row r: copy r mod n)
  train: bool = True
  bn_axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, z):
    dense = functools.partial(DenseBlock, norm=self.norm, train=self.train,
                              bn_axis_name=self.bn_axis_name)
    block = functools.partial(ConvBlock, norm=self.norm, train=self.train,
                              bn_axis_name=self.bn_axis_name)
    h = z
    for f in self.hidden:
      h = dense(f, act='lrelu')(h)
    h = dense(self.base_size * self.base_size * self.base_features, act=self.base_act)(h)
    h = h.reshape(h.shape[0], self.base_size, self.base_size, self.base_features)
    for f in self.up_features:
      h = block(f, 4, 2, transpose=True)(h)
      if self.extra_1x1:
        h = block(f, 1, 1)(h)
    return last_layer(self.num_generators, ConvBlock, features=self.out_channels, kernel=4,
                      stride=2, norm='none', act=self.out_act, transpose=True,
                      train=self.train)(h)


class ResNetEncoder(nn.Module):
  """The reference code's CIFAR-10 ``mu``: residual blocks with layer norm and ELU."""

  key_dim: int
  features: int = 128
  input_noise: float = 0.0
  hidden_noise: float = 0.0
  train: bool = True
  bn_axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x):
    block = functools.partial(ConvBlock, train=self.train, bn_axis_name=self.bn_axis_name)
    res = functools.partial(ResidualBlock, act='elu', norm='ln', train=self.train,
                            bn_axis_name=self.bn_axis_name)
    x = gaussian_noise(self, x, self.input_noise)
    h = block(self.features, 3, 1, norm='none', act='elu')(x)
    h = mean_pool(block(self.features, 3, 1, norm='none', act='none')(h))
    h = h + mean_pool(block(self.features, 1, 1, norm='none', act='none')(x))
    h = nn.elu(layer_norm()(h))
    for i, down in enumerate(('down', None, None)):
      h = res(down)(h)
      self.sow('intermediates', f'block{i}', h)
      h = gaussian_noise(self, h, self.hidden_noise)
    q = block(self.key_dim, 4, 2, norm='none', act='none')(h)
    return jnp.mean(q, axis=(1, 2))


class ResNetGenerator(nn.Module):
  """The reference code's CIFAR-10 generator: dense + 3 upsampling residual blocks, tanh."""

  out_channels: int = 3
  base_size: int = 4
  features: int = 128
  num_up: int = 3
  num_generators: int = 1   # > 1: that many stacked last layers (row r: copy r mod n)
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
    return last_layer(self.num_generators, ConvBlock, features=self.out_channels, kernel=3,
                      stride=1, norm='none', act='tanh', train=self.train)(h)


class MLPEncoder(nn.Module):
  """For 2D toy data: an MLP to key_dim features."""

  key_dim: int
  hidden: Sequence[int] = (128, 128)
  input_noise: float = 0.0
  hidden_noise: float = 0.0
  train: bool = True
  bn_axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x):
    h = gaussian_noise(self, x.reshape(x.shape[0], -1), self.input_noise)
    for i, f in enumerate(self.hidden):
      h = DenseBlock(f, norm='none', act='lrelu')(h)
      self.sow('intermediates', f'hidden{i}', h)
      h = gaussian_noise(self, h, self.hidden_noise)
    return nn.Dense(self.key_dim, kernel_init=INIT)(h)


class MLPGenerator(nn.Module):
  """For 2D toy data: an MLP from [z, K_c] to points."""

  out_dim: int = 2
  hidden: Sequence[int] = (128, 128)
  num_generators: int = 1   # > 1: that many stacked last layers (row r: copy r mod n)
  train: bool = True
  bn_axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, z):
    h = z
    for f in self.hidden:
      h = DenseBlock(f, norm='none', act='relu')(h)
    return last_layer(self.num_generators, nn.Dense, features=self.out_dim, kernel_init=INIT)(h)


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


class MultiGenerator(nn.Module):
  """MAD-GAN's k generators, all of one network: their parameters are stacked on a leading
  axis and applied with ``vmap`` (:class:`~mgan_jax.nets.layers.PerGenerator`). Row r of the
  input is generated by generator ``r mod k``; the row count must be a multiple of k. Each
  generator's batch norm normalises over its own rows."""

  generator_cls: Callable
  num_generators: int
  generator_kwargs: tuple = ()   # (name, value) pairs of the generator's fields
  stacking: str = 'vmap'         # or 'scan' (PerGenerator: the same variables and outputs)
  train: bool = True
  bn_axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, z):
    kwargs = dict(self.generator_kwargs, train=self.train, bn_axis_name=self.bn_axis_name)
    return PerGenerator(self.generator_cls, self.num_generators,
                        tuple(sorted(kwargs.items())), stacking=self.stacking,
                        name='generators')(z)


class Discriminator(nn.Module):
  """``mu`` plus the head's trainable output layer.

  Returns ``(features, logits)``: ``features`` [B, key_dim] is mu(x) (the memory's query
  before normalisation); ``logits`` is the head's output layer on the features: [B] when
  ``num_logits`` is 1 (DCGAN), [B, num_logits] when more (a classifier head), None when 0
  (MemoryGAN reads its output from the memory).

  Each encoder layer's output is sown into the ``intermediates`` collection under its name
  (``conv0``, ``conv1``, ... for the conv encoder), and ``features`` under its own: the
  layers feature matching can use (:func:`layer_names`).

  ``minibatch_kernels`` > 0 adds minibatch discrimination
  (:class:`~mgan_jax.nets.layers.MinibatchDiscrimination`) on the features: with a logit
  layer, the logits read ``[features, o(x)]`` (the paper); without one (MemoryGAN's query),
  ``features + W o(x)`` with ``W`` [B, key_dim] initialised at zero, so the query starts as
  mu(x) and keeps its dimension.
  """

  encoder: nn.Module
  num_logits: int = 0
  minibatch_kernels: int = 0
  minibatch_kernel_dim: int = 5
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x):
    features = self.encoder(x)
    head_input = features
    if self.minibatch_kernels > 0:
      o = MinibatchDiscrimination(self.minibatch_kernels, self.minibatch_kernel_dim,
                                  axis_name=self.axis_name)(features)
      if self.num_logits:
        head_input = jnp.concatenate([features, o], axis=-1)
      else:
        features = features + nn.Dense(features.shape[-1], use_bias=False,
                                       kernel_init=nn.initializers.zeros,
                                       name='minibatch_to_query')(o)
    self.sow('intermediates', 'features', features)
    if not self.num_logits:
      return features, None
    logits = nn.Dense(self.num_logits, kernel_init=INIT)(head_input)
    return features, logits[:, 0] if self.num_logits == 1 else logits


def _lookup(registry, name, kind):
  if name not in registry:
    raise ValueError(f'unknown {kind} {name!r}; known: {sorted(registry)}')
  return registry[name]


def build_models(model_config, *, key_dim: int, train: bool,
                 bn_axis_name: Optional[str] = None, num_logits: Optional[int] = None,
                 minibatch_kernels: int = 0, minibatch_kernel_dim: int = 5,
                 generator_norm: Optional[str] = None, num_generators: int = 1,
                 share_layers: bool = False, generator_stacking: str = 'vmap',
                 input_noise: float = 0.0, hidden_noise: float = 0.0):
  """``(discriminator, generator)`` modules for a config's ``model`` section.

  ``model_config`` has ``encoder``/``generator`` names, ``encoder_kwargs``/``generator_kwargs``
  dicts, ``kind`` and ``encoder_hidden_norm`` (the conv encoder's hidden-layer norm; other
  encoders refuse any but 'bn'). ``num_logits`` is the head's output layer size (None: 1 for
  ``kind='dcgan'``, else 0); a head with logits gets an encoder without batch norm on its last
  layer. ``generator_norm`` replaces the generator's ``norm`` (virtual batch norm); a generator
  without that field refuses it. ``num_generators`` > 1 gives MAD-GAN's stacked generators:
  :class:`MultiGenerator` (run by ``generator_stacking``), or with ``share_layers`` one network
  whose last layer alone is stacked. ``input_noise`` and ``hidden_noise`` are the encoder's
  Gaussian noise stds (on in an apply given a ``'noise'`` rng only:
  :func:`~mgan_jax.nets.layers.gaussian_noise`).
  """
  encoder_cls = _lookup(ENCODERS, model_config.encoder, 'encoder')
  generator_cls = _lookup(GENERATORS, model_config.generator, 'generator')
  common = dict(train=train, bn_axis_name=bn_axis_name)
  if num_logits is None:
    num_logits = 1 if model_config.kind == 'dcgan' else 0
  encoder_kwargs = dict(model_config.encoder_kwargs)
  hidden_norm = model_config.get('encoder_hidden_norm', 'bn')
  if hidden_norm != 'bn':
    if 'hidden_norm' not in encoder_cls.__dataclass_fields__:
      raise ValueError(f'encoder {model_config.encoder!r} has no hidden_norm option; '
                       f'model.encoder_hidden_norm applies to the conv encoder')
    encoder_kwargs.setdefault('hidden_norm', hidden_norm)
  if num_logits and 'final_norm' in encoder_cls.__dataclass_fields__:
    encoder_kwargs.setdefault('final_norm', 'none')  # no batch norm before the logit head
  if input_noise or hidden_noise:
    encoder_kwargs.update(input_noise=input_noise, hidden_noise=hidden_noise)
  encoder = encoder_cls(key_dim=key_dim, **encoder_kwargs, **common)
  generator_kwargs = dict(model_config.generator_kwargs)
  if generator_norm is not None:
    if 'norm' not in generator_cls.__dataclass_fields__:
      raise ValueError(f'generator {model_config.generator!r} has no batch norm to replace '
                       f'with virtual batch norm; use the conv generator')
    generator_kwargs['norm'] = generator_norm
  if num_generators > 1 and share_layers:
    generator = generator_cls(**generator_kwargs, num_generators=num_generators, **common)
  elif num_generators > 1:
    generator = MultiGenerator(generator_cls, num_generators,
                               tuple(sorted(generator_kwargs.items())),
                               stacking=generator_stacking, **common)
  else:
    generator = generator_cls(**generator_kwargs, **common)
  return Discriminator(encoder, num_logits=num_logits, minibatch_kernels=minibatch_kernels,
                       minibatch_kernel_dim=minibatch_kernel_dim,
                       axis_name=bn_axis_name), generator


def layer_names(discriminator: nn.Module, image_shape) -> list[str]:
  """The names of the discriminator's sown layer outputs, in order (no computation)."""
  x = jax.ShapeDtypeStruct((2,) + tuple(image_shape), jnp.float32)
  init = functools.partial(discriminator.clone(axis_name=None).init, mutable=True)
  variables = jax.eval_shape(init, jax.random.PRNGKey(0), x)
  inter = variables.get('intermediates', {})
  names = list(inter.get('encoder', {}))
  return names + [k for k in inter if k != 'encoder']


def sown_layer(intermediates, name: str) -> jax.Array:
  """A layer's output from the ``intermediates`` collection of one apply."""
  tree = intermediates['encoder'] if name in intermediates.get('encoder', {}) else intermediates
  return tree[name][0]
