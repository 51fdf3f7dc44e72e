"""Independent NumPy (float64) forms of the Improved-GAN techniques (Salimans et al. 2016),
written from the paper's equations with plain loops, sharing no code with
``mgan_jax.gans.improved`` or ``mgan_jax.nets.layers``."""

import numpy as np


def minibatch_features(f, T):
  """o(x_i)_b = sum_j exp(-||M_{i,b} - M_{j,b}||_1), M_i = f(x_i) T; f [n, A], T [A, B, C]."""
  f, T = np.asarray(f, np.float64), np.asarray(T, np.float64)
  n, B = f.shape[0], T.shape[1]
  M = np.einsum('na,abc->nbc', f, T)
  o = np.zeros((n, B))
  for i in range(n):
    for b in range(B):
      for j in range(n):
        o[i, b] += np.exp(-np.sum(np.abs(M[i, b] - M[j, b])))
  return o


def virtual_batch_norm(x, reference_size, bias, eps):
  """Each example i >= R normalised with the statistics of {reference rows} + {x_i}
  (per channel, over rows and spatial positions, each row weighted equally); the reference
  rows with the reference batch's own statistics."""
  x = np.asarray(x, np.float64)
  R = reference_size
  out = np.zeros_like(x)
  channels = x.shape[-1]
  for i in range(x.shape[0]):
    rows = list(range(R)) if i < R else list(range(R)) + [i]
    for c in range(channels):
      values = [x[r][..., c].ravel() for r in rows]
      mean = np.mean([v.mean() for v in values])
      meansq = np.mean([np.mean(v ** 2) for v in values])
      var = meansq - mean ** 2
      out[i][..., c] = (x[i][..., c] - mean) / np.sqrt(var + eps) + bias[c]
  return out


def feature_matching(f_real, f_fake):
  """||E f(x) - E f(G(z))||_2^2 with the features of each example flattened."""
  a = np.asarray(f_real, np.float64).reshape(len(f_real), -1).mean(axis=0)
  b = np.asarray(f_fake, np.float64).reshape(len(f_fake), -1).mean(axis=0)
  return float(np.sum((a - b) ** 2))


def historical_penalty(params, history):
  """||theta - (1/t) sum_i theta_i||^2 over every array; ``history`` lists the past thetas."""
  total = 0.0
  for name in params:
    mean = np.mean([np.asarray(h[name], np.float64) for h in history], axis=0)
    total += float(np.sum((np.asarray(params[name], np.float64) - mean) ** 2))
  return total


def smoothed_bce_d_loss(d_real, d_fake, alpha):
  """-mean[alpha log D(x) + (1 - alpha) log(1 - D(x))] - mean log(1 - D(G(z)))."""
  d_real, d_fake = np.asarray(d_real, np.float64), np.asarray(d_fake, np.float64)
  real = -np.mean(alpha * np.log(d_real) + (1 - alpha) * np.log(1 - d_real))
  return float(real - np.mean(np.log(1 - d_fake)))


def k_plus_one_losses(logits_real, logits_fake, logits_lab, labels):
  """The semi-supervised discriminator's losses (Salimans et al. 2016, eqs. 5-6), with the
  fake class's logit fixed at 0: p(fake | x) = 1 / (1 + sum_k exp l_k).
  Returns (unsupervised, supervised)."""
  def p_fake(logits):
    return 1.0 / (1.0 + np.sum(np.exp(np.asarray(logits, np.float64)), axis=1))
  unsup = -np.mean(np.log(1 - p_fake(logits_real))) - np.mean(np.log(p_fake(logits_fake)))
  sup = 0.0
  for row, y in zip(np.asarray(logits_lab, np.float64), labels):
    sup -= np.log(np.exp(row[y]) / np.sum(np.exp(row)))  # p(y | x, y <= K)
  return float(unsup), float(sup / len(labels))
