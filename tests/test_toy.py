"""The 2D mixtures and their mode statistics (known cases and a brute-force count)."""

import numpy as np
import pytest

from mgan_jax.data import toy


def test_mixtures_have_distinct_means():
  ring, sigma = toy.mixture('ring8')
  assert ring.shape == (8, 2) and sigma == 0.01
  assert len({tuple(np.round(m, 6)) for m in ring}) == 8  # no repeated endpoint
  np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 1.0)
  grid, sigma = toy.mixture('grid25')
  assert grid.shape == (25, 2) and sigma == 0.05
  assert set(np.unique(grid)) == {-4.0, -2.0, 0.0, 2.0, 4.0}


@pytest.mark.parametrize('name', toy.MIXTURES)
def test_true_samples_cover_every_mode_with_high_quality(name):
  stats = toy.mode_statistics(toy.sample(name, 2500, seed=1), name)
  assert stats['modes'] == stats['num_modes']
  assert stats['high_quality'] > 0.98  # 3 sigma in 2D holds 98.9%
  assert stats['reverse_kl'] < 0.05


def test_collapsed_and_off_manifold_samples():
  means, sigma = toy.mixture('ring8')
  one_mode = np.repeat(means[:1], 100, axis=0)
  stats = toy.mode_statistics(one_mode, 'ring8')
  assert stats['modes'] == 1 and stats['high_quality'] == 1.0
  assert stats['reverse_kl'] == pytest.approx(np.log(8))
  between = (means[:4] + means[1:5]) / 2  # midpoints: off the manifold
  stats = toy.mode_statistics(between, 'ring8')
  assert stats['modes'] == 0 and stats['high_quality'] == 0.0


def test_mode_statistics_against_a_brute_force_count():
  rng = np.random.default_rng(2)
  points = rng.uniform(-5, 5, (300, 2))
  means, sigma = toy.mixture('grid25')
  counts = np.zeros(25)
  for p in points:
    d = [np.hypot(*(p - m)) for m in means]
    j = int(np.argmin(d))
    if d[j] <= 3 * sigma:
      counts[j] += 1
  stats = toy.mode_statistics(points, 'grid25')
  assert stats['modes'] == int(np.sum(counts > 0))
  assert stats['high_quality'] == pytest.approx(counts.sum() / 300)


def test_scatter_image_marks_points_and_modes():
  img = toy.scatter_image(np.zeros((1, 2)), 'ring8', size=65)
  assert img.shape == (65, 65, 3)
  assert tuple(img[32, 32]) == (0, 0, 0)          # the point at the origin
  assert (img[..., 1] == 30).sum() >= 8           # red marks at the 8 means
