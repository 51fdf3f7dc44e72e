"""2D Gaussian mixtures for mode-collapse benchmarks, and their mode statistics.

* ``ring8``: 8 modes evenly on the unit circle (angles 2 pi i / 8, i = 0..7 — note that
  ``linspace(0, 2 pi, 8)`` would repeat an endpoint and give 7 distinct means), sigma 0.01.
* ``grid25``: means in {-4, -2, 0, 2, 4}^2, sigma 0.05.

The statistics follow VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018): a sample
is high quality if it lies within 3 sigma of its nearest mode; a mode is covered if it is
the nearest mode of at least one high-quality sample; the reverse KL is KL(q || p) of the
high-quality samples' mode histogram q against the true, uniform p.
"""

import numpy as np

MIXTURES = ('ring8', 'grid25')


def mixture(name: str) -> tuple[np.ndarray, float]:
  """``(means [K, 2], sigma)``."""
  if name == 'ring8':
    angles = 2 * np.pi * np.arange(8) / 8
    return np.stack([np.cos(angles), np.sin(angles)], axis=1), 0.01
  if name == 'grid25':
    axis = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    return np.stack(np.meshgrid(axis, axis, indexing='ij'), -1).reshape(-1, 2), 0.05
  raise ValueError(f'unknown mixture {name!r}; known: {list(MIXTURES)}')


def sample(name: str, num: int, seed: int = 0) -> np.ndarray:
  """``num`` points [num, 2] float32 from the mixture, modes equally likely."""
  means, sigma = mixture(name)
  rng = np.random.default_rng(seed)
  return (means[rng.integers(0, len(means), num)]
          + sigma * rng.standard_normal((num, 2))).astype(np.float32)


def mode_statistics(points, name: str) -> dict[str, float]:
  """Modes covered, share of high-quality samples, and reverse KL of the mode histogram."""
  means, sigma = mixture(name)
  p = np.asarray(points, np.float64).reshape(-1, 2)
  distance = np.linalg.norm(p[:, None, :] - means[None], axis=-1)  # [num, K]
  nearest = distance.argmin(axis=1)
  good = distance[np.arange(len(p)), nearest] <= 3 * sigma
  counts = np.bincount(nearest[good], minlength=len(means))
  covered = int(np.sum(counts > 0))
  if good.any():
    q = counts / counts.sum()
    nz = q > 0
    reverse_kl = float(np.sum(q[nz] * np.log(q[nz] * len(means))))
  else:
    reverse_kl = float('inf')
  return {'modes': covered, 'num_modes': len(means), 'high_quality': float(good.mean()),
          'reverse_kl': reverse_kl}


def generator_statistics(points, name: str, k: int) -> dict[str, list]:
  """MAD-GAN's generators on a mixture (row r of ``points``: generator r mod k).

  Per generator: the modes its samples cover, its high-quality share, and the modes it wins
  (those where it has the most high-quality samples of all generators; ties to the first).
  """
  means, sigma = mixture(name)
  p = np.asarray(points, np.float64).reshape(-1, 2)
  distance = np.linalg.norm(p[:, None, :] - means[None], axis=-1)
  nearest = distance.argmin(axis=1)
  good = distance[np.arange(len(p)), nearest] <= 3 * sigma
  source = np.arange(len(p)) % k
  counts = np.zeros((k, len(means)), np.int64)  # high-quality samples per generator and mode
  np.add.at(counts, (source[good], nearest[good]), 1)
  occupied = counts.sum(axis=0) > 0
  winner = counts.argmax(axis=0)
  return {'generator_modes': [int(c) for c in (counts > 0).sum(axis=1)],
          'generator_high_quality': [float(good[source == i].mean()) for i in range(k)],
          'generator_modes_won': [int(np.sum(occupied & (winner == i))) for i in range(k)]}


def scatter_image(points, name: str, size: int = 256) -> np.ndarray:
  """A uint8 RGB picture of samples (black) over the mode centres (red), no plotting library."""
  means, _ = mixture(name)
  extent = 1.5 if name == 'ring8' else 5.5
  img = np.full((size, size, 3), 255, np.uint8)

  def pixel(xy):
    ij = np.round((np.asarray(xy) + extent) / (2 * extent) * (size - 1)).astype(int)
    ok = np.all((ij >= 0) & (ij < size), axis=1)
    return ij[ok]

  for x, y in pixel(points):
    img[size - 1 - y, x] = (0, 0, 0)
  for x, y in pixel(means):
    img[max(size - 3 - y, 0):size + 2 - y, max(x - 2, 0):x + 3] = (220, 30, 30)
  return img
