"""Metrics against independent NumPy/SciPy computations and known cases."""

import numpy as np
import pytest
from scipy import special

from mgan_jax.evaluate import metrics


def _features(seed, n=60, d=5, shift=0.0, scale=1.0):
  rs = np.random.RandomState(seed)
  return rs.randn(n, d) @ rs.randn(d, d) * scale + shift


def test_frechet_distance_against_scipy_sqrtm():
  from scipy import linalg
  a, b = _features(0), _features(1, shift=0.7, scale=1.3)
  mu1, s1 = a.mean(0), np.cov(a, rowvar=False)
  mu2, s2 = b.mean(0), np.cov(b, rowvar=False)
  want = (np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2)
          - 2 * np.trace(np.real(linalg.sqrtm(s1 @ s2))))
  np.testing.assert_allclose(metrics.fid(a, b), want, rtol=1e-8)


def test_frechet_distance_with_singular_covariances():
  # Dead features (zero variance in both sets) leave the distance of the live ones.
  a, b = _features(11, d=3), _features(12, d=3, shift=0.4)
  pad = lambda x: np.concatenate([x, np.zeros((len(x), 2))], axis=1)
  np.testing.assert_allclose(metrics.fid(pad(a), pad(b)), metrics.fid(a, b), rtol=1e-7)


def test_frechet_distance_known_cases():
  # 1-D Gaussians: (m1 - m2)^2 + (s1 - s2)^2.
  np.testing.assert_allclose(metrics.frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]),
                             4.0 + 1.0, rtol=1e-10)
  a = _features(2)
  assert abs(metrics.fid(a, a)) < 1e-6
  assert metrics.fid(a, a + 10.0) == pytest.approx(5 * 100.0, rel=1e-6)


def test_mmd_against_explicit_sums_and_kid_extremes():
  x, y = _features(3, n=9, d=4), _features(4, n=7, d=4, shift=0.5)
  k = lambda u, v: (u @ v / 4 + 1) ** 3
  xx = sum(k(x[i], x[j]) for i in range(9) for j in range(9) if i != j) / (9 * 8)
  yy = sum(k(y[i], y[j]) for i in range(7) for j in range(7) if i != j) / (7 * 6)
  xy = sum(k(x[i], y[j]) for i in range(9) for j in range(7)) / (9 * 7)
  np.testing.assert_allclose(metrics.mmd2_unbiased(x, y), xx + yy - 2 * xy, rtol=1e-10)
  rs = np.random.RandomState(5)
  mix = rs.randn(5, 5)
  same, other = rs.randn(400, 5) @ mix, rs.randn(400, 5) @ mix  # one distribution, 2 samples
  kid_same, std = metrics.kernel_inception_distance(same, other, 20, 200)
  kid_far, _ = metrics.kernel_inception_distance(same, other + 3.0, 20, 200)
  assert abs(kid_same) < 3 * std + 1e-3 and kid_far > 100 * abs(kid_same)


def _np_knn_radius(x, i, k):
  d = sorted(np.linalg.norm(x[i] - x[j]) for j in range(len(x)) if j != i)
  return d[k - 1]


def test_precision_recall_density_coverage_against_loops():
  real, fake = _features(7, n=25, d=3), _features(8, n=20, d=3, shift=0.6)
  k = 3
  rr = [_np_knn_radius(real, i, k) for i in range(25)]
  rf = [_np_knn_radius(fake, j, k) for j in range(20)]
  prec = np.mean([any(np.linalg.norm(f - real[i]) <= rr[i] for i in range(25)) for f in fake])
  rec = np.mean([any(np.linalg.norm(r - fake[j]) <= rf[j] for j in range(20)) for r in real])
  assert metrics.precision_recall(real, fake, k) == pytest.approx((prec, rec))
  k = 5
  rr = [_np_knn_radius(real, i, k) for i in range(25)]
  counts = [[np.linalg.norm(f - real[i]) <= rr[i] for i in range(25)] for f in fake]
  density = np.sum(counts) / (k * 20)
  coverage = np.mean([any(counts[j][i] for j in range(20)) for i in range(25)])
  assert metrics.density_coverage(real, fake, k) == pytest.approx((density, coverage))


def test_manifold_metrics_extremes():
  a = _features(9, n=50)
  assert metrics.precision_recall(a, a) == (1.0, 1.0)
  assert metrics.density_coverage(a, a)[1] == 1.0
  assert metrics.precision_recall(a, a + 100.0) == (0.0, 0.0)
  assert metrics.density_coverage(a, a + 100.0) == (0.0, 0.0)


def test_inception_score_against_scipy_and_known_cases():
  rs = np.random.RandomState(10)
  probs = special.softmax(rs.randn(100, 7) * 2, axis=1)
  want = []
  for part in np.array_split(probs, 4):
    marginal = part.mean(0)
    want.append(np.exp(np.mean([special.rel_entr(p, marginal).sum() for p in part])))
  mean, std = metrics.inception_score(probs, splits=4)
  np.testing.assert_allclose([mean, std], [np.mean(want), np.std(want)], rtol=1e-10)
  assert metrics.inception_score(np.full((20, 5), 0.2), splits=2)[0] == pytest.approx(1.0)
  one_hot = np.eye(5)[np.arange(50) % 5]
  assert metrics.inception_score(one_hot, splits=5) == pytest.approx((5.0, 0.0))


def test_metrics_refuse_bad_input():
  with pytest.raises(ValueError, match='non-finite'):
    metrics.fid(np.full((4, 2), np.nan), np.zeros((4, 2)))
  with pytest.raises(ValueError, match='rows of probabilities'):
    metrics.inception_score(np.ones((10, 3)))
  with pytest.raises(ValueError, match='more than k=3'):
    metrics.precision_recall(np.zeros((3, 2)), np.zeros((8, 2)))


def test_classifier_weights_round_trip_and_missing_weights_are_explained(tmp_path):
  import jax
  from mgan_jax.evaluate import classifier
  variables = classifier.init_variables(jax.random.PRNGKey(1))
  path = classifier.save(variables, 'fashion', str(tmp_path / 'c.msgpack'))
  loaded = classifier.load('fashion', path)
  assert set(loaded) == {'params', 'batch_stats'}
  for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(variables)):
    np.testing.assert_array_equal(a, b)
  probs, feats = classifier.batched(classifier.make_apply(loaded),
                                    np.zeros((7, 28, 28, 1), np.float32), batch=3)
  assert probs.shape == (7, 10) and feats.shape == (7, classifier.FEATURE_DIM)
  np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
  with pytest.raises(FileNotFoundError, match='experiments.train_classifier --dataset=mnist'):
    classifier.load('mnist', str(tmp_path / 'none.msgpack'))
