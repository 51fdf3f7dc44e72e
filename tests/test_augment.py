"""The classifier's augmentations against NumPy/SciPy: bilinear warps, the Gaussian blur of
the elastic field, and the random transform's ranges."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage

from mgan_jax.evaluate import augment


def numpy_warp(image, matrix, offset):
  """Bilinear sampling with zeros outside, one output pixel at a time."""
  h, w = image.shape
  centre = np.array([(h - 1) / 2, (w - 1) / 2])
  out = np.zeros_like(image)
  for r in range(h):
    for c in range(w):
      y, x = matrix @ (np.array([r, c]) - centre) + centre + offset
      y0, x0 = int(np.floor(y)), int(np.floor(x))
      for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
          if 0 <= yy < h and 0 <= xx < w:
            out[r, c] += wy * wx * image[yy, xx]
  return out


@pytest.fixture
def image():
  return np.random.default_rng(0).uniform(size=(9, 7)).astype(np.float32)


def test_warp_matches_numpy_bilinear_sampling(image):
  angle, zoom = 0.4, 1.1
  matrix = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) / zoom
  offset = np.array([0.3, -1.7])
  got = augment.warp(jnp.asarray(image)[..., None], jnp.asarray(matrix, jnp.float32),
                     jnp.asarray(offset, jnp.float32))
  np.testing.assert_allclose(got[..., 0], numpy_warp(image, matrix, offset), atol=1e-5)


def test_identity_whole_pixel_shift_and_quarter_turn(image):
  x = jnp.asarray(image)[..., None]
  eye = jnp.eye(2)
  np.testing.assert_allclose(augment.warp(x, eye, jnp.zeros(2)), x, atol=1e-6)
  shifted = np.zeros_like(image)
  shifted[:-2, 1:] = image[2:, :-1]  # out[r, c] = in[r + 2, c - 1]
  np.testing.assert_allclose(augment.warp(x, eye, jnp.array([2.0, -1.0]))[..., 0], shifted,
                             atol=1e-6)
  square = jnp.asarray(image[:7, :7])[..., None]
  turn = jnp.array([[0.0, 1.0], [-1.0, 0.0]])  # out[r, c] = in[c, 6 - r]: counterclockwise
  np.testing.assert_allclose(augment.warp(square, turn, jnp.zeros(2))[..., 0],
                             np.rot90(image[:7, :7], k=1), atol=1e-5)


def test_displacement_field_is_added_to_the_source_points(image):
  field = np.zeros((2, 9, 7), np.float32)
  field[1] = 1.0  # every source point one column to the right
  got = augment.warp(jnp.asarray(image)[..., None], jnp.eye(2), jnp.zeros(2),
                     jnp.asarray(field))
  np.testing.assert_allclose(got[..., 0], numpy_warp(image, np.eye(2), np.array([0.0, 1.0])),
                             atol=1e-6)


def test_gaussian_blur_matches_scipy():
  field = np.random.default_rng(1).uniform(-1, 1, size=(2, 3, 28, 28)).astype(np.float32)
  got = augment.gaussian_blur(jnp.asarray(field), 4.0)
  want = scipy.ndimage.gaussian_filter(field, sigma=(0, 0, 4, 4), mode='constant', truncate=3.0)
  np.testing.assert_allclose(got, want, atol=1e-5)


def test_random_affine_is_keyed_bounded_and_the_identity_at_zero_ranges():
  images = jax.random.uniform(jax.random.PRNGKey(0), (4, 28, 28, 1))
  key = jax.random.PRNGKey(1)
  same = augment.random_affine(key, images, max_degrees=0.0, scale=(1.0, 1.0), max_shift=0.0)
  np.testing.assert_allclose(same, images, atol=1e-5)
  a = augment.random_affine(key, images, elastic_alpha=34.0)
  b = augment.random_affine(key, images, elastic_alpha=34.0)
  c = augment.random_affine(jax.random.PRNGKey(2), images, elastic_alpha=34.0)
  assert a.shape == images.shape
  np.testing.assert_array_equal(a, b)
  assert float(jnp.abs(a - c).max()) > 0.1
  assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0  # convex combinations of pixels


def test_named_recipes():
  images = np.asarray(jax.random.uniform(jax.random.PRNGKey(0), (16, 12, 10, 1)))
  key = jax.random.PRNGKey(3)
  np.testing.assert_array_equal(augment.recipe('none')(key, images), images)
  flipped = np.asarray(augment.recipe('flip')(key, images))
  was_flipped = [np.array_equal(f, x[:, ::-1]) for f, x in zip(flipped, images)]
  assert all(w or np.array_equal(f, x) for w, f, x in zip(was_flipped, flipped, images))
  assert 0 < sum(was_flipped) < len(images)
  shifted = np.asarray(augment.recipe('shift')(key, images))
  padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
  for s, p in zip(shifted, padded):  # each is a crop of the zero-padded image
    assert any(np.array_equal(s, p[r:r + 12, c:c + 10]) for r in range(5) for c in range(5))
  assert augment.recipe('elastic')(key, images).shape == images.shape
  with pytest.raises(ValueError, match='one of none, flip, shift, affine, elastic'):
    augment.recipe('mixup')
