"""Sample-quality metrics on feature vectors, in float64 NumPy (host side, after extraction).

* :func:`frechet_distance` — FID (Heusel et al. 2017) between two feature sets.
* :func:`kernel_inception_distance` — KID (Binkowski et al. 2018): the unbiased MMD^2 with the
  cubic polynomial kernel, mean and standard deviation over random subsets.
* :func:`precision_recall` — improved precision and recall (Kynkaanniemi et al. 2019),
  k-NN manifolds with k = 3.
* :func:`density_coverage` — density and coverage (Naeem et al. 2020), k = 5.
* :func:`inception_score` — IS / classifier score (Salimans et al. 2016) with splits.
* :func:`mode_coverage` — modes covered and KL(sample mode histogram || uniform), as
  VEEGAN/PacGAN report for Stacked MNIST.

Features come from a feature network (a classifier's penultimate layer, or Inception-v3's
pool3); see the evaluation code for which one each data set uses.
"""

from typing import Optional

import numpy as np


def _as_features(x, name: str) -> np.ndarray:
  x = np.asarray(x, np.float64)
  if x.ndim != 2 or len(x) < 2:
    raise ValueError(f'{name} must be [num >= 2, dim] features, got shape {x.shape}')
  if not np.all(np.isfinite(x)):
    raise ValueError(f'{name} has non-finite values')
  return x


def gaussian_stats(features) -> tuple[np.ndarray, np.ndarray]:
  """Mean and (unbiased) covariance of [num, dim] features."""
  f = _as_features(features, 'features')
  return f.mean(axis=0), np.cov(f, rowvar=False)


def _trace_sqrt_product(s1, s2) -> float:
  """``Tr (S1 S2)^(1/2)`` for symmetric PSD S1, S2, as the sum of the square roots of the
  eigenvalues of the symmetric ``S1^(1/2) S2 S1^(1/2)`` (same spectrum as S1 S2). Stable
  for singular covariances (dead ReLU features), where ``sqrtm(S1 S2)`` is not."""
  w, v = np.linalg.eigh(s1)
  root = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
  eig = np.linalg.eigvalsh(root @ s2 @ root)
  return float(np.sum(np.sqrt(np.clip(eig, 0.0, None))))


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
  """``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` between two Gaussians."""
  mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
  s1, s2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
  if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (len(mu1),) * 2:
    raise ValueError(f'shape mismatch: mu {mu1.shape} / {mu2.shape}, sigma {s1.shape} / '
                     f'{s2.shape}')
  diff = mu1 - mu2
  s1, s2 = (s1 + s1.T) / 2, (s2 + s2.T) / 2
  return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * _trace_sqrt_product(s1, s2))


def fid(features_a, features_b) -> float:
  return frechet_distance(*gaussian_stats(features_a), *gaussian_stats(features_b))


def _polynomial_kernel(x, y):
  return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x, y) -> float:
  """Unbiased MMD^2 between samples x [m, d] and y [n, d], cubic polynomial kernel."""
  m, n = len(x), len(y)
  kxx, kyy, kxy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
  return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
               + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2.0 * kxy.mean())


def kernel_inception_distance(features_a, features_b, num_subsets: int = 100,
                              subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
  """KID: mean and standard deviation of the unbiased MMD^2 over random subsets."""
  a, b = _as_features(features_a, 'features_a'), _as_features(features_b, 'features_b')
  size = min(subset_size, len(a), len(b))
  rng = np.random.default_rng(seed)
  values = [mmd2_unbiased(a[rng.choice(len(a), size, replace=False)],
                          b[rng.choice(len(b), size, replace=False)])
            for _ in range(num_subsets)]
  return float(np.mean(values)), float(np.std(values))


def _pairwise_distances(x, y) -> np.ndarray:
  d2 = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * x @ y.T
  return np.sqrt(np.maximum(d2, 0.0))


def _knn_radii(x, k: int) -> np.ndarray:
  """Distance from each row of x to its k-th nearest other row."""
  if len(x) <= k:
    raise ValueError(f'need more than k={k} samples, got {len(x)}')
  d = _pairwise_distances(x, x)
  return np.partition(d, k, axis=1)[:, k]  # index 0 is the point itself (distance 0)


def precision_recall(real, fake, k: int = 3) -> tuple[float, float]:
  """Improved precision (fakes inside the real manifold) and recall (reals inside the fake
  manifold); a manifold is the union of balls reaching each sample's k-th neighbour."""
  real, fake = _as_features(real, 'real'), _as_features(fake, 'fake')
  r_real, r_fake = _knn_radii(real, k), _knn_radii(fake, k)
  d = _pairwise_distances(real, fake)  # [num_real, num_fake]
  precision = np.mean(np.any(d <= r_real[:, None], axis=0))
  recall = np.mean(np.any(d <= r_fake[None, :], axis=1))
  return float(precision), float(recall)


def density_coverage(real, fake, k: int = 5) -> tuple[float, float]:
  """Density (how many real k-NN balls contain each fake, / k) and coverage (share of real
  balls that contain at least one fake)."""
  real, fake = _as_features(real, 'real'), _as_features(fake, 'fake')
  r_real = _knn_radii(real, k)
  inside = _pairwise_distances(real, fake) <= r_real[:, None]  # [num_real, num_fake]
  density = inside.sum() / (k * fake.shape[0])
  coverage = np.mean(inside.any(axis=1))
  return float(density), float(coverage)


def inception_score(probs, splits: int = 10) -> tuple[float, float]:
  """``exp(E_x KL(p(y|x) || p(y)))``, mean and std over ``splits`` equal parts."""
  p = np.asarray(probs, np.float64)
  if p.ndim != 2 or np.any(p < 0) or not np.allclose(p.sum(1), 1.0, atol=1e-4):
    raise ValueError('probs must be [num, classes] rows of probabilities')
  if splits < 1 or len(p) < splits:
    raise ValueError(f'need at least {splits} samples for {splits} splits, got {len(p)}')
  scores = []
  for part in np.array_split(p, splits):
    marginal = part.mean(axis=0, keepdims=True)
    kl = np.sum(part * (np.log(np.maximum(part, 1e-30)) - np.log(np.maximum(marginal, 1e-30))),
                axis=1)
    scores.append(np.exp(kl.mean()))
  return float(np.mean(scores)), float(np.std(scores))


def all_feature_metrics(real, fake, *, kid_subsets: int = 100, kid_subset_size: int = 1000,
                        seed: Optional[int] = 0) -> dict[str, float]:
  """FID, KID (mean, std), precision, recall (k=3), density, coverage (k=5)."""
  kid, kid_std = kernel_inception_distance(real, fake, kid_subsets, kid_subset_size, seed or 0)
  precision, recall = precision_recall(real, fake, 3)
  density, coverage = density_coverage(real, fake, 5)
  return {'fid': fid(real, fake), 'kid': kid, 'kid_std': kid_std, 'precision': precision,
          'recall': recall, 'density': density, 'coverage': coverage}


def mode_coverage(modes, num_modes: int) -> tuple[int, float]:
  """``(modes covered, KL(q || uniform))`` for the mode id of every sample (ints in
  [0, num_modes)): q is the samples' mode histogram, KL = sum_m q_m log(q_m num_modes)."""
  modes = np.asarray(modes).reshape(-1)
  if len(modes) == 0 or modes.min() < 0 or modes.max() >= num_modes:
    raise ValueError(f'mode ids must be in [0, {num_modes}) and not empty')
  q = np.bincount(modes, minlength=num_modes) / len(modes)
  nz = q > 0
  return int(nz.sum()), float(np.sum(q[nz] * np.log(q[nz] * num_modes)))
