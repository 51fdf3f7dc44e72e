"""Data augmentation for the evaluation classifiers: pure, jittable, explicit keys.

Images are ``[B, H, W, C]``. A warp maps each output pixel centre ``p`` (row, column) to the
source point ``matrix @ (p - c) + c + offset`` with ``c`` the image centre, and samples it
bilinearly with zeros outside (``jax.scipy.ndimage.map_coordinates``, order 1).
"""

import math

import jax
import jax.numpy as jnp


def warp(image: jax.Array, matrix: jax.Array, offset: jax.Array,
         displacement: jax.Array | None = None) -> jax.Array:
  """One ``[H, W, C]`` image sampled at ``matrix @ (p - c) + c + offset (+ displacement[p])``.

  ``matrix`` is 2x2 over (row, column); ``displacement`` an optional ``[2, H, W]`` field in
  pixels added to the source coordinates (elastic distortion).
  """
  h, w, _ = image.shape
  centre = jnp.array([(h - 1) / 2, (w - 1) / 2], jnp.float32)
  grid = jnp.stack(jnp.meshgrid(jnp.arange(h, dtype=jnp.float32),
                                jnp.arange(w, dtype=jnp.float32), indexing='ij'))  # [2, H, W]
  source = jnp.einsum('ij,jhw->ihw', matrix, grid - centre[:, None, None])
  source = source + (centre + offset)[:, None, None]
  if displacement is not None:
    source = source + displacement
  sample = lambda channel: jax.scipy.ndimage.map_coordinates(
      channel, [source[0], source[1]], order=1, mode='constant', cval=0.0)
  return jax.vmap(sample, in_axes=-1, out_axes=-1)(image)


def gaussian_blur(field: jax.Array, sigma: float) -> jax.Array:
  """Separable Gaussian blur (zero padding, radius ``ceil(3 sigma)``) of ``[..., H, W]``."""
  radius = math.ceil(3 * sigma)
  t = jnp.arange(-radius, radius + 1, dtype=jnp.float32)
  kernel = jnp.exp(-0.5 * (t / sigma) ** 2)
  kernel = kernel / kernel.sum()
  shape = field.shape
  x = field.reshape((-1,) + shape[-2:] + (1,))
  for kernel_shape in ((kernel.size, 1, 1, 1), (1, kernel.size, 1, 1)):
    x = jax.lax.conv_general_dilated(x, kernel.reshape(kernel_shape), (1, 1), 'SAME',
                                     dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  return x.reshape(shape)


def random_affine(key: jax.Array, images: jax.Array, max_degrees: float = 12.0,
                  scale: tuple[float, float] = (0.9, 1.1), max_shift: float = 2.0,
                  elastic_alpha: float = 0.0, elastic_sigma: float = 4.0) -> jax.Array:
  """Each image rotated by U(-max_degrees, max_degrees), zoomed by U(*scale), shifted by
  U(-max_shift, max_shift) pixels per axis, and, when ``elastic_alpha`` > 0, distorted by a
  random displacement field: U(-1, 1) per pixel, blurred with ``elastic_sigma``, times
  ``elastic_alpha`` (Simard, Steinkraus & Platt, 2003).
  """
  b, h, w, _ = images.shape
  k_angle, k_scale, k_shift, k_field = jax.random.split(key, 4)
  angle = jnp.deg2rad(jax.random.uniform(k_angle, (b,), minval=-max_degrees,
                                         maxval=max_degrees))
  zoom = jax.random.uniform(k_scale, (b,), minval=scale[0], maxval=scale[1])
  shift = jax.random.uniform(k_shift, (b, 2), minval=-max_shift, maxval=max_shift)
  cos, sin = jnp.cos(angle) / zoom, jnp.sin(angle) / zoom
  matrices = jnp.stack([jnp.stack([cos, -sin], -1), jnp.stack([sin, cos], -1)], -2)
  if elastic_alpha > 0:
    field = jax.random.uniform(k_field, (b, 2, h, w), minval=-1.0, maxval=1.0)
    field = elastic_alpha * gaussian_blur(field, elastic_sigma)
    return jax.vmap(warp)(images, matrices, shift, field)
  return jax.vmap(warp)(images, matrices, shift)


RECIPES = ('none', 'flip', 'shift', 'affine', 'elastic')


def recipe(name: str):
  """``(key, images [B, H, W, C]) -> images`` by name: 'none'; 'flip' (horizontal, half of
  the images); 'shift' (whole pixels, up to 2 per axis, zeros shifted in); 'affine'
  (:func:`random_affine` with its defaults); 'elastic' (the same plus an elastic field,
  alpha 34, sigma 4)."""
  if name not in RECIPES:
    raise ValueError(f'unknown augmentation {name!r}; one of {", ".join(RECIPES)}')
  if name == 'none':
    return lambda key, x: x
  if name == 'flip':
    def flip(key, x):
      return jnp.where(jax.random.bernoulli(key, 0.5, (x.shape[0], 1, 1, 1)), x[:, :, ::-1], x)
    return flip
  if name == 'shift':
    def shift(key, x):
      shifts = jax.random.randint(key, (x.shape[0], 2), 0, 5)
      padded = jnp.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
      return jax.vmap(lambda im, s: jax.lax.dynamic_slice(im, (s[0], s[1], 0), x.shape[1:]))(
          padded, shifts)
    return shift
  alpha = 34.0 if name == 'elastic' else 0.0
  return lambda key, x: random_affine(key, x, elastic_alpha=alpha)
