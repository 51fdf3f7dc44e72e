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


def write_kappa(cfg):
  """kappa_write, or kappa where it is 0 (SPEC 3, "Batches")."""
  return cfg.kappa_write if cfg.kappa_write > 0 else cfg.kappa


def conditional_topk(mem, q, y, cfg):
  """S_y: top-k over the slots with v = y only (fewer if fewer such slots exist), scored at
  the write's concentration."""
  s = scores(mem['keys'], mem['hist'], q, write_kappa(cfg), cfg.beta)
  return topk(s, cfg.write_k if cfg.write_k > 0 else cfg.choose_k,
              allowed=mem['values'] == y)


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
    gamma = softmax([write_kappa(cfg) * K[i] @ q + np.log(h[i] + cfg.beta) for i in S_y])
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
      gammas.append(softmax([write_kappa(cfg) * K[i] @ q + np.log(h[i] + cfg.beta)
                             for i in S_y])
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
  return lru(mem, keys, values, ages, hist, queries, labels, hits)


def lru(mem, keys, values, ages, hist, queries, labels, hits):
  """The order-free rules' LRU: the j-th miss in batch order takes the j-th oldest slot
  (ages before the write, ties to the lower index), with h = mean(h) before the write."""
  oldest = sorted(range(len(hist)), key=lambda i: (-mem['ages'][i], i))
  mean_h = float(np.mean(mem['hist']))
  j = 0
  for q, y, hit in zip(queries, labels, hits):
    if not hit:
      n = oldest[j]
      j += 1
      keys[n], values[n], ages[n], hist[n] = q, y, 0, mean_h
  return {'keys': keys, 'values': values, 'ages': ages, 'hist': hist}, np.array(hits)


def write_proposals(mem, queries, labels, cfg):
  """The `proposals` rule of SPEC 3, literally: each hit query proposes a key per slot of
  its S_y; a touched slot takes the normalised sum of its proposals and h <- alpha h + 1
  (hist_step 'responsibility': + the mean of its touching queries' gamma)."""
  keys = mem['keys'].astype(np.float64).copy()
  hist = mem['hist'].astype(np.float64).copy()
  values = mem['values'].copy()
  ages = mem['ages'].copy() + 1
  hits = [is_hit(mem, q, y, cfg) for q, y in zip(queries, labels)]
  proposals, gammas = {}, {}
  for q, y, hit in zip(queries, labels, hits):
    if not hit:
      continue
    S_y = conditional_topk(mem, q, y, cfg)
    gamma = softmax([write_kappa(cfg) * mem['keys'][i] @ q
                     + np.log(cfg.alpha * mem['hist'][i] + cfg.beta) for i in S_y])
    for g, i in zip(gamma, S_y):
      r = g / (cfg.alpha * mem['hist'][i] + 1.0)
      proposals.setdefault(i, []).append(normalize((1 - r) * mem['keys'][i] + r * q))
      gammas.setdefault(i, []).append(g)
  for i, ps in proposals.items():
    keys[i] = normalize(np.sum(ps, axis=0))
    step = np.mean(gammas[i]) if cfg.hist_step == 'responsibility' else 1.0
    hist[i] = cfg.alpha * mem['hist'][i] + step
    ages[i] = 0
  return lru(mem, keys, values, ages, hist, queries, labels, hits)


def write_sequential(mem, queries, labels, cfg):
  """The `sequential` rule of SPEC 3: ages advance once; then each query in turn, against
  the memory as the queries before it left it, gets the per-sample rule: a miss takes the
  oldest slot now (ties to the lower index) with h = mean(h) now; a hit runs the per-sample
  EM on its S_y and zeroes their ages."""
  cur = {'keys': mem['keys'].astype(np.float64).copy(),
         'hist': mem['hist'].astype(np.float64).copy(),
         'values': mem['values'].copy(), 'ages': mem['ages'].copy() + 1}
  hits = []
  for q, y in zip(queries, labels):
    hit = is_hit(cur, q, y, cfg)
    hits.append(hit)
    if hit:
      S_y = conditional_topk(cur, q, y, cfg)
      cur['keys'], cur['hist'] = em_single_query(cur['keys'], cur['hist'], q, S_y, cfg)
      for i in S_y:
        cur['ages'][i] = 0
    else:
      n = min(range(len(cur['hist'])), key=lambda i: (-cur['ages'][i], i))
      mean_h = float(np.mean(cur['hist']))
      cur['keys'][n], cur['values'][n], cur['ages'][n], cur['hist'][n] = q, y, 0, mean_h
  return cur, np.array(hits)


WRITES = {'batched': write, 'proposals': write_proposals, 'sequential': write_sequential}


def split_threshold(queries, labels):
  """|mean q| / lambda_max of the tangent covariance of the real queries (eigvalsh)."""
  x = np.asarray(queries, np.float64)[np.asarray(labels) == 1]
  mu = x.mean(0)
  u = mu / np.linalg.norm(mu)
  proj = np.eye(x.shape[1]) - np.outer(u, u)
  cov = proj @ np.cov(x.T, bias=True) @ proj
  return np.linalg.norm(mu) / np.linalg.eigvalsh(cov)[-1]


def distinct_keys(keys, hist, values, mass=0.9, cosine=0.95, top=None):
  """Greedy count of distinct real keys, most used first: among the real slots holding
  `mass` of the real histogram (or the `top` most used), keep a key when its cosine to every
  kept key is below `cosine`."""
  real = [i for i in range(len(hist)) if values[i] == 1 and hist[i] > 0]
  real.sort(key=lambda i: (-hist[i], i))
  total = sum(hist[i] for i in real)
  chosen, before = [], 0.0
  for rank, i in enumerate(real):
    eligible = rank < top if top is not None else before < mass * total
    before += hist[i]
    if eligible:
      chosen.append(i)
  kept = []
  for i in chosen:
    if all(keys[i] @ keys[j] < cosine for j in kept):
      kept.append(i)
  return len(kept)


def key_log_posterior(mem, q, key_c, cfg, same_key=1e-5):
  """log p(c | q, v = 1) for one query: the real slots' softmax of the read's scores, the
  mass of the slots whose key is key_c (cosine >= 1 - same_key; such a slot takes part
  even when it is fake)."""
  s = scores(mem['keys'], mem['hist'], q, cfg.kappa, cfg.beta)
  n = len(s)
  target = [i for i in range(n) if mem['keys'][i] @ key_c >= 1.0 - same_key]
  allowed = [i for i in range(n) if i in target or mem['values'][i] == 1]
  top = max(s[i] for i in allowed)
  total = sum(np.exp(s[i] - top) for i in allowed)
  mass = sum(np.exp(s[i] - top) for i in target)
  return float(np.log(mass / total))
