r"""mgan_jax's fashion train step next to the same model written in PyTorch, in one process.

    pip install -e '.[benchmark]'          # PyTorch's CPU build, for this benchmark only
    python -m benchmarks.torch_fashion [--steps=60] [--torch_compile]
    python -m benchmarks.torch_fashion --torch_device=cuda --synthetic_data   # on a GPU

The PyTorch side (below) is what a PyTorch user would write for the fashion config: the same
networks (conv ``mu`` 64-128-256 + a 4x4/4 query conv with batch norm; the dense + 4x4/2
transposed-conv generator), the same memory algorithm at the config's settings (the vMF
read's posterior over the top ``choose_k`` slots, a plain softmax when that is every slot;
the hit test, the write's ``S_y`` of ``write_k`` slots, one EM step of the ``batched`` or
``proposals`` rule and the LRU overwrite), the same losses (``jsd`` or ``alternative``, with
the reference clipping, and the squared or posterior MI term, on D and G or G only),
Adam(2e-4, 0.5, 0.999). Other settings are
refused. Before timing, the benchmark checks that the two memories agree on the same inputs
(read output; keys, histogram, labels and ages after a write) and that the networks have the
same parameter count; then it times blocks of 10 steps alternately on the same batch, so both
see the same machine load, and prints the medians and their ratio. Differences kept on
purpose: PyTorch's write does not sort the batch into mgan_jax's canonical order (that
order only makes the sums bit-reproducible; its cost is a sort of 2B digests). Not a test.

On a GPU (``--torch_device=cuda``) both sides run there: JAX on its default backend, PyTorch's
tensors made on the device (``torch.set_default_device``), and every timed PyTorch block ends
with ``torch.cuda.synchronize()`` as every JAX block ends with ``block_until_ready``, so
neither side's asynchronous dispatch is timed as work done. ``--synthetic_data`` draws random
images in place of Fashion-MNIST (a machine without the data set; the step's cost does not
depend on the pixels).
"""

import math
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import timing

_STEPS = flags.DEFINE_integer('steps', 60, 'Timed steps per framework (blocks of 10).')
_WARMUP = flags.DEFINE_integer('warmup', 5, 'Untimed steps after compiling.')
_COMPILE = flags.DEFINE_bool('torch_compile', False, 'Also time torch.compile of the nets.')
_THREADS = flags.DEFINE_integer('torch_threads', 0, 'torch.set_num_threads (0: default).')
_DEVICE = flags.DEFINE_string('torch_device', 'cpu', "PyTorch's device: cpu or cuda.")
_SYNTHETIC = flags.DEFINE_bool('synthetic_data', False,
                               'Random uint8 images instead of Fashion-MNIST.')
_COMPONENTS = flags.DEFINE_bool('components', True,
                                'Also time G and D forward+backward alone in both frameworks.')


def torch_model(config):
  """``(step, memory_cls, counts)``: a PyTorch MemoryGAN step for the fashion config."""
  import torch
  from torch import nn
  import torch.nn.functional as F

  from mgan_jax import memory as mm
  mem_cfg = mm.MemoryConfig(**dict(config.memory))
  if (mem_cfg.write_rule not in ('batched', 'proposals') or mem_cfg.em_steps != 1
      or mem_cfg.correct_in_top != 1 or mem_cfg.hist_step != 'count'
      or config.loss not in ('jsd', 'alternative')
      or config.get('mi_form', 'squared') not in ('squared', 'posterior')):
    raise SystemExit('the PyTorch side implements the batched and proposals rules with one EM '
                     'step, correct_in_top 1, the jsd and alternative losses and the squared '
                     'and posterior MI terms; this config needs more')
  z_dim, key_dim = config.model.z_dim, config.model.key_dim
  lam = config.mi_weight
  mi_form = config.get('mi_form', 'squared')
  mi_on_d = config.get('mi_networks', 'both') == 'both'

  def bn(c, dims):
    layer = (nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d)(c, eps=1e-3, momentum=0.01)
    layer.weight.requires_grad_(False)  # slim's batch norm has no scale
    return layer

  def same_pad(size, k, s):
    """TF 'SAME' padding (more at the end), as lax/flax use."""
    out = math.ceil(size / s)
    total = max((out - 1) * s + k - size, 0)
    return (total // 2, total - total // 2)

  class Encoder(nn.Module):
    def __init__(self):
      super().__init__()
      feats = (1,) + tuple(config.model.encoder_kwargs.features)
      self.convs = nn.ModuleList(
          nn.Conv2d(a, b, 4, 2, bias=(i == 0)) for i, (a, b) in enumerate(zip(feats, feats[1:])))
      self.norms = nn.ModuleList(bn(b, 2) for b in feats[2:])
      self.query = nn.Conv2d(feats[-1], key_dim, 4, 4, bias=False)
      self.query_norm = bn(key_dim, 2)

    def forward(self, x):
      size = x.shape[-1]
      for i, conv in enumerate(self.convs):
        lo, hi = same_pad(size, 4, 2)
        x = conv(F.pad(x, (lo, hi, lo, hi)))
        size = x.shape[-1]
        if i > 0:
          x = self.norms[i - 1](x)
        x = F.leaky_relu(x, 0.2)
      return self.query_norm(self.query(x)).flatten(1)

  class Generator(nn.Module):
    def __init__(self):
      super().__init__()
      g = config.model.generator_kwargs
      self.base = (g.base_features, g.base_size, g.base_size)
      self.fc1 = nn.Linear(z_dim + key_dim, g.hidden[0], bias=False)
      self.bn1 = bn(g.hidden[0], 1)
      self.fc2 = nn.Linear(g.hidden[0], math.prod(self.base), bias=False)
      self.bn2 = bn(math.prod(self.base), 1)
      self.up = nn.ConvTranspose2d(g.base_features, g.up_features[0], 4, 2, 1, bias=False)
      self.bn3 = bn(g.up_features[0], 2)
      self.out = nn.ConvTranspose2d(g.up_features[0], g.out_channels, 4, 2, 1)

    def forward(self, z):
      h = F.leaky_relu(self.bn1(self.fc1(z)), 0.2)
      h = F.relu(self.bn2(self.fc2(h))).view(-1, *self.base)
      h = F.relu(self.bn3(self.up(h)))
      return torch.sigmoid(self.out(h))

  class Memory:
    """(K, v, a, h) as tensors; read and write as in mgan_jax.memory (SPEC 2-3): the read's
    posterior over the top choose_k slots (every slot: a plain softmax), the write's S_y the
    top write_k slots of the label, one EM step of the config's rule (batched or
    proposals)."""

    def __init__(self, keys, values, ages, hist):
      self.keys, self.values, self.ages, self.hist = keys, values, ages, hist

    def scores(self, q):
      sims = q @ self.keys.T
      return sims, mem_cfg.kappa * sims + torch.log(self.hist + mem_cfg.beta)

    def read(self, q):
      _, scores = self.scores(q)
      if mem_cfg.choose_k >= scores.shape[1]:
        return torch.softmax(scores, dim=1) @ self.values.to(q.dtype)
      top, idx = torch.topk(scores, mem_cfg.choose_k, dim=1)
      return (torch.softmax(top, dim=1) * self.values[idx].to(q.dtype)).sum(1)

    @torch.no_grad()
    def write(self, q, labels):
      n, batch = self.keys.shape[0], q.shape[0]
      alpha, beta, kappa_w = mem_cfg.alpha, mem_cfg.beta, mem_cfg.write_kappa
      sims, scores = self.scores(q)
      hit = self.values[scores.argmax(1)] == labels       # correct_in_top = 1
      write_scores = scores if kappa_w == mem_cfg.kappa else (
          kappa_w * sims + torch.log(self.hist + beta))
      masked = torch.where(self.values[None] == labels[:, None], write_scores, -math.inf)
      cond, idx = torch.topk(masked, mem_cfg.write_top_k, dim=1)
      valid = torch.isfinite(cond) & hit[:, None]
      cond_sims = torch.gather(sims, 1, idx)
      columns = torch.where(valid, idx, n)
      touched = torch.zeros(n + 1, dtype=torch.bool).index_fill_(0, columns.flatten(), True)[:n]
      ent_hist = alpha * self.hist[idx]
      logits = kappa_w * cond_sims + torch.log(ent_hist + beta)
      gamma = torch.softmax(logits.masked_fill(~valid, -math.inf), dim=1).nan_to_num(0.0)
      to_slots = lambda w: torch.zeros(batch, n + 1).scatter_(1, columns, w)[:, :n]
      if mem_cfg.write_rule == 'batched':  # one EM step over the batch's statistics
        delta = to_slots(gamma)
        mass = delta.sum(0)
        hist = torch.where(touched, alpha * self.hist, self.hist) + mass
        pull = delta.T @ q - mass[:, None] * self.keys
        safe = torch.where(touched, hist, 1.0)[:, None]
        keys = torch.where(touched[:, None], F.normalize(self.keys + pull / safe, dim=1),
                           self.keys)
      else:  # proposals: K_i <- normalize(sum_b normalize((1 - r) K_i + r q_b)), h <- alpha h + 1
        rate = gamma / (ent_hist + 1.0)
        norm_sq = ((1 - rate) ** 2 + rate ** 2 * (q * q).sum(1, keepdim=True)
                   + 2 * rate * (1 - rate) * cond_sims)     # |K_i| = 1
        inv = torch.where(valid, norm_sq.clamp_min(0).sqrt().clamp_min(1e-12).reciprocal(), 0.0)
        keep = to_slots((1 - rate) * inv).sum(0)
        new = F.normalize(keep[:, None] * self.keys + to_slots(rate * inv).T @ q, dim=1)
        keys = torch.where(touched[:, None], new, self.keys)
        hist = torch.where(touched, alpha * self.hist + 1.0, self.hist)
      ages = torch.where(touched, 0, self.ages + 1)
      # LRU: the j-th miss takes the j-th oldest slot (ties to the lower index).
      oldest = torch.sort(self.ages, descending=True, stable=True).indices[:batch]
      miss = ~hit
      rank = torch.cumsum(miss.int(), 0) - 1
      target = torch.where(miss, oldest[rank.clamp(0, batch - 1)], n)
      pad = lambda x: torch.cat([x, x[:1]])   # a scratch row n for the hits
      keys, values, ages, hist_p = pad(keys), pad(self.values), pad(ages), pad(hist)
      keys[target] = q
      values[target] = labels.to(values.dtype)
      ages[target] = 0
      hist_p[target] = self.hist.mean()
      return Memory(keys[:n], values[:n], ages[:n], hist_p[:n])

    def mi_term(self, f_fake, kc):
      """The MI term (mgan_jax.gans.memorygan.MemoryHead.penalty): squared, or posterior,
      -log of the real slots' posterior mass on the slots whose key is K_c."""
      if mi_form == 'squared':
        return lam * ((f_fake - kc) ** 2).mean()
      _, scores = self.scores(F.normalize(f_fake, dim=1))
      target = kc @ self.keys.T >= 1.0 - 1e-5
      allowed = target | (self.values > 0)[None]
      log_mass = (torch.logsumexp(scores.masked_fill(~target, -math.inf), 1)
                  - torch.logsumexp(scores.masked_fill(~allowed, -math.inf), 1))
      return -lam * log_mass.mean()

    def sample_keys(self, num):
      weight = self.hist * self.values.to(self.hist.dtype)
      weight = torch.where(weight.sum() > 0, weight, self.hist)  # no real slot yet: all
      return self.keys[torch.multinomial(weight, num, replacement=True)]

  d, g = Encoder(), Generator()
  d_trainable = [p for p in d.parameters() if p.requires_grad]
  d_opt = torch.optim.Adam(d_trainable, lr=2e-4,
                           betas=(0.5, 0.999))
  g_opt = torch.optim.Adam([p for p in g.parameters() if p.requires_grad], lr=2e-4,
                           betas=(0.5, 0.999))
  n, mdim = mem_cfg.num_slots, mem_cfg.key_dim
  memory = Memory(F.normalize(torch.randn(n, mdim), dim=1), torch.zeros(n, dtype=torch.int32),
                  torch.zeros(n, dtype=torch.int32), torch.full((n,), mem_cfg.init_hist))
  state = {'memory': memory}
  batch = config.batch_size
  labels = torch.cat([torch.ones(batch, dtype=torch.int32), torch.zeros(batch, dtype=torch.int32)])
  clip = lambda p: p.clamp(1e-3, 1 - 1e-3)
  d_nets, g_nets = [d], [g]

  def g_inputs(mem):
    kc = mem.sample_keys(batch)
    return torch.cat([torch.rand(batch, z_dim) * 2 - 1, kc], 1), kc

  def step(images):
    mem = state['memory']
    dn, gn = d_nets[-1], g_nets[-1]
    x_real = images.permute(0, 3, 1, 2).float() / 255.0
    # Discriminator.
    z, kc = g_inputs(mem)
    with torch.no_grad():
      fake = gn(z)
    f_real, f_fake = dn(x_real), dn(fake)
    q = F.normalize(torch.cat([f_real, f_fake]), dim=1)   # one read of both batches
    p = mem.read(q)
    d_loss = -torch.log(clip(p[:batch])).mean() - torch.log(1 - clip(p[batch:])).mean()
    if mi_on_d:
      d_loss = d_loss + mem.mi_term(f_fake, kc)
    d_opt.zero_grad(set_to_none=True)
    d_loss.backward()
    d_opt.step()
    mem = mem.write(q.detach(), labels)
    # Generator, with fresh z and slots from the written memory; D's weights frozen.
    z, kc = g_inputs(mem)
    for p in d_trainable:
      p.requires_grad_(False)
    f_fake = dn(gn(z))
    p_fake = clip(mem.read(F.normalize(f_fake, dim=1)))
    g_adv = (-torch.log(p_fake) if config.loss == 'alternative' else torch.log(1 - p_fake))
    g_loss = g_adv.mean() + mem.mi_term(f_fake, kc)
    g_opt.zero_grad(set_to_none=True)
    g_loss.backward()
    g_opt.step()
    for p in d_trainable:
      p.requires_grad_(True)
    state['memory'] = mem
    return d_loss.detach(), g_loss.detach()

  def compile_nets():
    d_nets.append(torch.compile(d))
    g_nets.append(torch.compile(g))

  counts = (sum(p.numel() for p in d.parameters() if p.requires_grad),
            sum(p.numel() for p in g.parameters() if p.requires_grad))
  step.nets = (d, g)
  return step, Memory, counts, compile_nets


def torch_sync():
  """Waits for the PyTorch work queued on the GPU (nothing to wait for on the CPU)."""
  import torch
  if torch.cuda.is_available() and torch.get_default_device().type == 'cuda':
    torch.cuda.synchronize()


def time_components(config, t_step, setup, state, repeats: int = 20):
  """Median ms of G and D forward + backward (sum of outputs) alone, batch B, both frameworks."""
  import torch
  d, g = t_step.nets
  b = config.batch_size
  z = torch.rand(b, config.model.z_dim + config.model.key_dim)
  x = torch.rand(b, 1, 28, 28)

  def median_ms(fn):  # fn() runs and waits for one forward + backward
    return timing.median_ms(lambda _: fn(), None, repeats, warmup=3)

  def torch_grad(net, inp):
    def run():
      net.zero_grad(set_to_none=True)
      net(inp).sum().backward()
      torch_sync()
    return run

  def jax_grad(module, params, stats, inp, first=False):
    def loss(p):
      out, _ = module.apply({'params': p, 'batch_stats': stats}, inp, mutable=['batch_stats'])
      return jnp.sum(out[0] if first else out)
    f = jax.jit(jax.grad(loss))
    return lambda: jax.block_until_ready(f(params))

  zj = jnp.asarray(z.cpu().numpy())
  xj = jnp.asarray(x.cpu().numpy().transpose(0, 2, 3, 1))
  return {
      'G forward+backward': (median_ms(jax_grad(setup.g_train, state.g_params, state.g_stats,
                                                zj)), median_ms(torch_grad(g, z))),
      'D forward+backward': (median_ms(jax_grad(setup.d_train, state.d_params, state.d_stats,
                                                xj, first=True)), median_ms(torch_grad(d, x))),
  }


def check_memories_agree(config, memory_cls):
  """Max abs differences of the PyTorch memory against mgan_jax.memory on one read + write."""
  import torch
  from mgan_jax import memory as mm
  cfg = mm.MemoryConfig(**dict(config.memory))
  rng = np.random.default_rng(0)
  n, m, b = cfg.num_slots, cfg.key_dim, 2 * config.batch_size
  keys = rng.normal(size=(n, m)).astype(np.float32)
  keys /= np.linalg.norm(keys, axis=1, keepdims=True)
  values = rng.integers(0, 2, n).astype(np.int32)
  ages = rng.integers(0, 50, n).astype(np.int32)
  hist = rng.gamma(1.0, 1.0, n).astype(np.float32)
  q = rng.normal(size=(b, m)).astype(np.float32)
  # Half the queries near stored keys of their label (hits), half random (mostly misses).
  labels = np.concatenate([np.ones(b // 2), np.zeros(b // 2)]).astype(np.int32)
  near = rng.choice(np.flatnonzero(values == 1), b // 4)
  q[:b // 4] = keys[near] + 0.05 * q[:b // 4]
  q /= np.linalg.norm(q, axis=1, keepdims=True)
  j_mem = mm.Memory(jnp.asarray(keys), jnp.asarray(values), jnp.asarray(ages), jnp.asarray(hist))
  to_torch = lambda x: torch.from_numpy(np.array(x)).to(torch.get_default_device())
  t_mem = memory_cls(*(to_torch(x) for x in (keys, values, ages, hist)))
  j_read = np.asarray(mm.read(j_mem, jnp.asarray(q), cfg).prob_real)
  t_read = t_mem.read(to_torch(q)).cpu().numpy()
  j_new, j_stats = mm.write(j_mem, jnp.asarray(q), jnp.asarray(labels), cfg)
  t_new = t_mem.write(to_torch(q), to_torch(labels))
  diffs = {'read': np.abs(j_read - t_read).max()}
  if config.get('mi_form', 'squared') == 'posterior':  # the MI term's Q on the same queries
    slots = rng.choice(np.flatnonzero(values == 1), b)
    j_mi = -config.mi_weight * float(jnp.mean(mm.key_log_posterior(
        j_mem, jnp.asarray(q), jnp.asarray(keys[slots]), cfg)))
    t_mi = float(t_mem.mi_term(to_torch(q), to_torch(keys[slots])))
    diffs['mi_term'] = abs(j_mi - t_mi)
  for name in ('keys', 'values', 'ages', 'hist'):
    diffs[name] = float(np.abs(np.asarray(getattr(j_new, name), np.float64)
                               - getattr(t_new, name).cpu().numpy().astype(np.float64)).max())
  hits = int(j_stats.real_hits + j_stats.fake_hits)
  return diffs, hits, b


def _torch_device_name() -> str:
  import torch
  if torch.get_default_device().type == 'cuda':
    return torch.cuda.get_device_name()
  return 'cpu'


def main(argv):
  del argv
  import torch
  from mgan_jax import data
  from mgan_jax.train import training
  if _THREADS.value:
    torch.set_num_threads(_THREADS.value)
  if _DEVICE.value not in ('cpu', 'cuda'):
    raise SystemExit(f'--torch_device must be cpu or cuda, got {_DEVICE.value!r}')
  if _DEVICE.value == 'cuda' and not torch.cuda.is_available():
    raise SystemExit('--torch_device=cuda: this PyTorch sees no CUDA device')
  torch.set_default_device(_DEVICE.value)
  torch.manual_seed(0)
  from experiments.configs import fashion
  config = fashion.get_config()
  config.num_devices = 1
  if _SYNTHETIC.value:
    images = np.random.default_rng(0).integers(0, 256, (config.batch_size, 28, 28, 1), np.uint8)
  else:
    images = data.load_images(config.data)[:config.batch_size]

  t_step, memory_cls, (t_d, t_g), compile_nets = torch_model(config)
  diffs, hits, b = check_memories_agree(config, memory_cls)
  print(f'memory agreement on one read + write ({hits}/{b} hits), max abs difference: '
        + ', '.join(f'{k} {v:.2e}' for k, v in diffs.items()))
  if max(diffs.values()) > 1e-4:
    raise SystemExit('the PyTorch memory disagrees with mgan_jax.memory; not timing it')

  setup = training.make_setup(config, 1)
  state = training.init_state(setup, jax.random.PRNGKey(0))
  count = lambda tree: sum(x.size for x in jax.tree_util.tree_leaves(tree))
  j_d, j_g = count(state.d_params), count(state.g_params)
  print(f'trainable parameters: D {j_d} (jax) / {t_d} (torch), G {j_g} (jax) / {t_g} (torch)')
  if (j_d, j_g) != (t_d, t_g):
    raise SystemExit('the networks differ; not timing them')
  j_step = training.make_train_step(setup, 1)
  rng = jax.random.PRNGKey(1)
  j_images = jnp.asarray(images)
  t_images = torch.from_numpy(np.array(images)).to(_DEVICE.value)

  t0 = time.perf_counter()
  state, _ = j_step(state, j_images, rng)
  jax.block_until_ready(state)
  print(f'jax compile + first step: {time.perf_counter() - t0:.1f} s')
  for _ in range(_WARMUP.value):
    state, _ = j_step(state, j_images, rng)
    t_step(t_images)
  jax.block_until_ready(state)
  torch_sync()

  def jax_block():
    nonlocal state
    for _ in range(10):
      state, _ = j_step(state, j_images, rng)
    jax.block_until_ready(state)

  def torch_block():
    for _ in range(10):
      t_step(t_images)
    torch_sync()

  runs = {'mgan_jax (jit)': jax_block, 'PyTorch eager': torch_block}
  times = {name: [] for name in runs}
  if _COMPILE.value:
    compile_nets()
    t0 = time.perf_counter()
    for _ in range(3):
      t_step(t_images)
    torch_sync()
    print(f'torch.compile + 3 steps: {time.perf_counter() - t0:.1f} s')
    runs = {'mgan_jax (jit)': jax_block, 'PyTorch torch.compile (nets)': torch_block}
    times = {name: [] for name in runs}
  for _ in range(max(1, _STEPS.value // 10)):
    for name, block in runs.items():
      t0 = time.perf_counter()
      block()
      times[name].append((time.perf_counter() - t0) / 10)
  print(f'# fashion train step, batch {config.batch_size}, {jax.devices()[0].device_kind}, '
        f'jax {jax.__version__}, torch {torch.__version__} on {_torch_device_name()} '
        f'({torch.get_num_threads()} CPU threads)')
  print('| implementation | step ms (median) | min | max | images/s |')
  print('|---|---|---|---|---|')
  for name, ts in times.items():
    t = float(np.median(ts))
    print(f'| {name} | {1e3 * t:.1f} | {1e3 * min(ts):.1f} | {1e3 * max(ts):.1f} | '
          f'{config.batch_size / t:.0f} |')
  names = list(times)
  ratio = np.median(times[names[1]]) / np.median(times[names[0]])
  print(f'{names[1]} step / {names[0]} step = {ratio:.2f}')
  if _COMPONENTS.value:
    print('| part (batch %d) | mgan_jax ms | PyTorch ms | PyTorch / mgan_jax |' % config.batch_size)
    print('|---|---|---|---|')
    for part, (j, t) in time_components(config, t_step, setup, state).items():
      print(f'| {part} | {j:.1f} | {t:.1f} | {t / j:.2f} |')


if __name__ == '__main__':
  app.run(main)
