r"""Images/s of the full train step, MemoryGAN next to the DCGAN step with identical networks
(and MAD-GAN's, with ``--models``).

    python -m benchmarks.train_step --config=fashion [--steps=100] [--config.batch_size=64]
    python -m benchmarks.train_step --config=cifar10 --synthetic_data   # no data set needed
    python -m benchmarks.train_step --config=fashion --models=memorygan,dcgan,madgan,madgan_sim

Every step is built from the same config, only ``model.kind`` differing (DCGAN: the same
nets, a logit head instead of the memory; MAD-GAN: k generators as ``config.madgan`` says,
a (k+1)-way head; MAD-GAN-Sim: with its similarity term), compiled, warmed up, then timed in
one process on the same data, alternating blocks of steps so that all see the same load.
Prints the device kind, device count, batch, step time, images/s, the memory's overhead
(ratio of step times), XLA's FLOP count per step, and the share of the machine's matmul
peak that the step achieves (the peak measured in the same run: the best of a few square
float32 matmuls). ``--synthetic_data`` feeds uniform random images of the config's shape
(for timing configs whose data set is not on the machine; the numbers of a step do not
depend on the pixels). Not a test.
"""

import copy
import os
import time

from absl import app
from absl import flags
import jax
import numpy as np

from experiments import configs_lib
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config name or path.')
_STEPS = flags.DEFINE_integer('steps', 60, 'Timed steps per model (in blocks of 10).')
_WARMUP = flags.DEFINE_integer('warmup', 5, 'Untimed steps after compiling.')
_SYNTHETIC = flags.DEFINE_bool('synthetic_data', False,
                               'Random images of the config shape instead of the data set.')
MODELS = {
    'memorygan': {'model.kind': 'memory'},
    # with the posterior MI term on G (one more [B, N] score matrix in the G step)
    'memorygan_posterior': {'model.kind': 'memory', 'mi_form': 'posterior',
                            'mi_networks': 'generator', 'mi_weight': 0.1},
    'dcgan': {'model.kind': 'dcgan'},
    'madgan': {'model.kind': 'madgan', 'madgan.similarity': False},
    'madgan_sim': {'model.kind': 'madgan', 'madgan.similarity': True},
}
_MODELS = flags.DEFINE_list('models', ['memorygan', 'dcgan'],
                            f'Steps to time side by side: {", ".join(MODELS)}.')
_PROFILE = flags.DEFINE_string('profile_dir', None,
                               'Also trace 10 steps of each model with jax.profiler into '
                               'DIR/MODEL, the compiled step\'s HLO beside (for '
                               'benchmarks.profile_summary).')
_PEAK_SIZES = flags.DEFINE_list('peak_sizes', ['1024', '2048', '4096'],
                                'Square float32 matmul sizes for the peak measurement.')


def matmul_peak(sizes, repeats: int = 5):
  """``(flop/s, n)``: the best float32 matmul rate over square sizes ``n``, jitted."""
  best = (0.0, 0)
  for n in sizes:
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jax.numpy.float32)
    b = jax.random.normal(jax.random.PRNGKey(1), (n, n), jax.numpy.float32)
    f = jax.jit(lambda x, y: x @ y)
    jax.block_until_ready(f(a, b))
    times = []
    for _ in range(repeats):
      t0 = time.perf_counter()
      jax.block_until_ready(f(a, b))
      times.append(time.perf_counter() - t0)
    rate = 2.0 * n ** 3 / min(times)
    best = max(best, (rate, n))
  return best


def build(config, images):
  from mgan_jax.train import trainer, training
  n = config.num_devices or jax.local_device_count()
  setup = training.make_setup(config, n)
  state = training.init_state(setup, jax.random.PRNGKey(0))
  step = training.make_train_step(setup, n)
  if n > 1:
    state = trainer.replicate(state, n)
  batch = images[:config.batch_size]
  if n > 1:
    batch = batch.reshape((n, -1) + batch.shape[1:])
  flops = None
  if n == 1:
    try:
      cost = step.lower(state, batch, jax.random.PRNGKey(1)).compile().cost_analysis()
      cost = cost[0] if isinstance(cost, (list, tuple)) else cost
      flops = float(cost.get('flops', 0.0)) or None
    except Exception:  # cost analysis is best effort on some backends
      flops = None
  return step, state, batch, flops, n


def trace(directory: str, run) -> None:
  """Traces 10 steps of ``run`` into ``directory`` with the compiled step's HLO beside."""
  os.makedirs(directory, exist_ok=True)
  rng = jax.random.PRNGKey(1)
  hlo = run['step'].lower(run['state'], run['batch'], rng).compile().as_text()
  with open(os.path.join(directory, 'train_step.hlo.txt'), 'w') as f:
    f.write(hlo)
  with jax.profiler.trace(directory):
    for _ in range(10):
      run['state'], _ = run['step'](run['state'], run['batch'], rng)
    jax.block_until_ready(run['state'])
  print(f'traced 10 steps into {directory}')


def main(argv):
  del argv
  from mgan_jax import data
  config = _CONFIG.value
  if _SYNTHETIC.value:
    shape = (max(config.batch_size, 256),) + tuple(config.data.shape)
    images = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    if config.data.image_range == 'none':
      images = np.random.default_rng(0).normal(size=shape).astype(np.float32)
  else:
    images = data.load_images(config.data)
  unknown = [m for m in _MODELS.value if m not in MODELS]
  if unknown:
    raise SystemExit(f'error: unknown model(s) {", ".join(unknown)}; known: '
                     f'{", ".join(MODELS)}')
  runs = {}
  for name in _MODELS.value:
    cfg = copy.deepcopy(config)
    for key, value in MODELS[name].items():
      *sections, field = key.split('.')
      node = cfg
      for section in sections:
        node = node[section]
      node[field] = value
    step, state, batch, flops, n = build(cfg, images)
    rng = jax.random.PRNGKey(1)
    t0 = time.perf_counter()
    state, m = step(state, batch, rng)
    jax.block_until_ready(state)
    compile_s = time.perf_counter() - t0
    for _ in range(_WARMUP.value):
      state, m = step(state, batch, rng)
    jax.block_until_ready(state)
    runs[name] = dict(step=step, state=state, batch=batch, flops=flops, times=[],
                      compile_s=compile_s, n=n)
  for _ in range(max(1, _STEPS.value // 10)):  # alternate blocks of 10 steps
    for r in runs.values():
      t0 = time.perf_counter()
      for _ in range(10):
        r['state'], _ = r['step'](r['state'], r['batch'], jax.random.PRNGKey(1))
      jax.block_until_ready(r['state'])
      r['times'].append((time.perf_counter() - t0) / 10)
  if _PROFILE.value:
    for name, r in runs.items():
      trace(os.path.join(_PROFILE.value, name), r)
  peak, peak_n = matmul_peak([int(n) for n in _PEAK_SIZES.value])
  dev = jax.devices()[0]
  print(f'# {config.data.name}: device {dev.device_kind} ({jax.default_backend()}), '
        f'{next(iter(runs.values()))["n"]} device(s), global batch {config.batch_size}, '
        f'jax {jax.__version__}, {"synthetic" if _SYNTHETIC.value else "real"} images')
  print(f'measured matmul peak: {peak / 1e9:.1f} GFLOP/s (float32, {peak_n}x{peak_n}, '
        f'one device)')
  print('| model | step ms (median) | images/s | steps/s | XLA GFLOP/step | GFLOP/s | '
        'share of matmul peak |')
  print('|---|---|---|---|---|---|---|')
  for name, r in runs.items():
    t = float(np.median(r['times']))
    if r['flops']:
      rate = r['flops'] / t
      flops = f"{r['flops'] / 1e9:.2f} | {rate / 1e9:.1f} | {100 * rate / peak:.2g}%"
    else:
      flops = 'n/a | n/a | n/a'
    print(f"| {name} | {1e3 * t:.1f} | {config.batch_size / t:.0f} | {1 / t:.2f} | {flops} |")
  if 'dcgan' in runs:
    base = np.median(runs['dcgan']['times'])
    for name, r in runs.items():
      if name != 'dcgan':
        ratio = np.median(r['times']) / base
        print(f'{name} step / DCGAN step = {ratio:.3f} ({100 * (ratio - 1):+.1f}%)')


if __name__ == '__main__':
  app.run(main, flags_parser=configs_lib.parse_flags_with_config_names)
