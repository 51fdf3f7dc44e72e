"""MAD-GAN's formulas written out in NumPy, loop by loop, from the paper's text (Ghosh et al.
2018; mgan_jax.gans.madgan's docstring): the references of tests/test_madgan.py."""

import numpy as np


def softmax(logits):
  e = np.exp(logits - logits.max(axis=-1, keepdims=True))
  return e / e.sum(axis=-1, keepdims=True)


def discriminator_loss(logits_real, logits_fake, alpha=1.0):
  """-E[delta . log D] over the real rows (class k+1, the last; target alpha) and the fake
  rows (row r: generator r mod k), each part a mean over its rows."""
  k = logits_real.shape[1] - 1
  p_real, p_fake = softmax(np.float64(logits_real)), softmax(np.float64(logits_fake))
  real = 0.0
  for p in p_real:
    real -= alpha * np.log(p[k]) + (1 - alpha) * np.log(1 - p[k])
  fake = 0.0
  for r, p in enumerate(p_fake):
    delta = np.zeros(k + 1)
    delta[r % k] = 1.0
    fake -= np.sum(delta * np.log(p))
  return real / len(p_real) + fake / len(p_fake)


def generator_loss_alternative(logits_fake):
  """-E log D_{k+1}(G_i(z)): the non-saturating generator loss."""
  p = softmax(np.float64(logits_fake))
  return -np.mean(np.log(p[:, -1]))


def similarity_violation(p_real, phi, k):
  """mean over z and i of 1/(k-1) sum_{j != i} max(0, D(G_j(z)) + cos(phi_i, phi_j) - D(G_i(z))),
  rows k q + i holding G_i(z_q)."""
  p_real = np.float64(p_real)
  phi = np.float64(phi).reshape(len(p_real), -1)
  total, count = 0.0, 0
  for q in range(len(p_real) // k):
    for i in range(k):
      a = phi[k * q + i]
      for j in range(k):
        if j == i:
          continue
        b = phi[k * q + j]
        cos = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
        total += max(0.0, p_real[k * q + j] + cos - p_real[k * q + i]) / (k - 1)
      count += 1
  return total / count
