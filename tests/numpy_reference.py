"""An independent NumPy (float64) implementation of SPEC.md sections 2 and 3.

Written from the equations, one query at a time with plain loops, sharing no code with
``mgan_jax.memory``: the tests hold the JAX implementation to it.
"""

import numpy as np


def scores(keys, hist, q, kappa, beta):
  """s_i(q) = kappa K_i . q + log(h_i + beta) for one query q."""
  return kappa * (keys @ q) + np.log(hist + beta)


def topk(s, k, allowed=None):
  """Indices of the k largest entries of s, largest first, ties to the lower index."""
  candidates = [i for i in range(len(s)) if allowed is None or allowed[i]]
  candidates.sort(key=lambda i: (-s[i], i))
  return candidates[:k]


def softmax(x):
  x = np.asarray(x, np.float64)
  e = np.exp(x - np.max(x))
  return e / e.sum()


def read(mem, queries, cfg):
  """Returns (p(y=1|x) [B], S [B][k], posterior [B][k])."""
  probs, sets, posts = [], [], []
  for q in queries:
    s = scores(mem['keys'], mem['hist'], q, cfg.kappa, cfg.beta)
    S = topk(s, cfg.choose_k)
    post = softmax([s[i] for i in S])
    probs.append(sum(post[j] * mem['values'][i] for j, i in enumerate(S)))
    sets.append(S)
    posts.append(post)
  return np.array(probs), sets, posts


def conditional_topk(mem, q, y, cfg):
  """S_y: top-k over the slots with v = y only (fewer if fewer such slots exist)."""
  s = scores(mem['keys'], mem['hist'], q, cfg.kappa, cfg.beta)
  return topk(s, cfg.choose_k, allowed=mem['values'] == y)


def is_hit(mem, q, y, cfg):
  s = scores(mem['keys'], mem['hist'], q, cfg.kappa, cfg.beta)
  S = topk(s, cfg.choose_k)
  return any(mem['values'][i] == y for i in S[:cfg.correct_in_top])


def normalize(x):
  n = np.linalg.norm(x)
  return x / n if n > 0 else x


def em_single_query(keys, hist, q, S_y, cfg):
  """The per-sample incremental EM of SPEC section 3.3, literally. Returns new (keys, hist)."""
  keys, hist = keys.copy(), hist.copy()
  K = {i: keys[i].copy() for i in S_y}
  h = {i: cfg.alpha * hist[i] for i in S_y}
  gamma_prev = {i: 0.0 for i in S_y}
  for _ in range(cfg.em_steps):
    gamma = softmax([cfg.kappa * K[i] @ q + np.log(h[i] + cfg.beta) for i in S_y])
    gamma = dict(zip(S_y, gamma))
    for i in S_y:
      h[i] = h[i] + gamma[i] - gamma_prev[i]
      K[i] = normalize(K[i] + (gamma[i] - gamma_prev[i]) / h[i] * (q - K[i]))
    gamma_prev = gamma
  for i in S_y:
    keys[i], hist[i] = K[i], h[i]
  return keys, hist


def write(mem, queries, labels, cfg):
  """The batch write of SPEC section 3 ("Batches"). Returns (new memory, hit flags)."""
  N = len(mem['hist'])
  keys = mem['keys'].astype(np.float64).copy()
  hist = mem['hist'].astype(np.float64).copy()
  values = mem['values'].copy()
  ages = mem['ages'].copy() + 1

  # Every decision is taken against the memory before the write.
  hits = [is_hit(mem, q, y, cfg) for q, y in zip(queries, labels)]
  cond = [conditional_topk(mem, q, y, cfg) if hit else []
          for q, y, hit in zip(queries, labels, hits)]
  touched = sorted({i for S_y in cond for i in S_y})

  # Batched incremental EM over the sufficient statistics, slot by slot.
  K = {i: keys[i].copy() for i in touched}
  h = {i: cfg.alpha * hist[i] for i in touched}
  gamma_prev = [np.zeros(len(S_y)) for S_y in cond]
  for _ in range(cfg.em_steps):
    gammas = []
    for q, S_y in zip(queries, cond):
      gammas.append(softmax([cfg.kappa * K[i] @ q + np.log(h[i] + cfg.beta) for i in S_y])
                    if S_y else np.zeros(0))
    mass = {i: 0.0 for i in touched}
    pull = {i: np.zeros_like(keys[0]) for i in touched}
    for q, S_y, g, g_prev in zip(queries, cond, gammas, gamma_prev):
      for j, i in enumerate(S_y):
        mass[i] += g[j] - g_prev[j]
        pull[i] += (g[j] - g_prev[j]) * (q - K[i])
    for i in touched:
      h[i] = h[i] + mass[i]
      K[i] = normalize(K[i] + pull[i] / h[i])
    gamma_prev = gammas
  for i in touched:
    keys[i], hist[i], ages[i] = K[i], h[i], 0

  # LRU: the j-th miss in batch order takes the j-th oldest slot (ages before the write).
  oldest = sorted(range(N), key=lambda i: (-mem['ages'][i], i))
  mean_h = float(np.mean(mem['hist']))
  j = 0
  for q, y, hit in zip(queries, labels, hits):
    if not hit:
      n = oldest[j]
      j += 1
      keys[n], values[n], ages[n], hist[n] = q, y, 0, mean_h
  return {'keys': keys, 'values': values, 'ages': ages, 'hist': hist}, np.array(hits)
