r"""Writes samples of a trained run from its newest good checkpoint.

    python -m experiments.sample --workdir=runs/fashion_memory [--num=64] [--rows=10]

Reads the run's config from WORKDIR/config.json and writes, into WORKDIR/final_samples/
(or --outdir):
* samples.png        a grid of --num samples (fixed seed);
* slots.png          MemoryGAN only: one row per most used real slot (the --rows real slots
                     that the most test images pick first; h*v where the data set has no
                     test split here), --cols fixed z per row: what each slot has learned;
* slot_hist.png      MemoryGAN only: h of the 64 most used slots, sorted (blue real, red fake);
* generators.png     MAD-GAN only: one row per generator, the same --cols z in every row;
* samples.npy        the --num samples as float32 [num, H, W, C].
"""

import json
import os
import sys

from absl import app
from absl import flags
from absl import logging

_WORKDIR = flags.DEFINE_string('workdir', None, 'The run directory (has config.json).',
                               required=True)
_OUTDIR = flags.DEFINE_string('outdir', None, 'Default: WORKDIR/final_samples.')
_NUM = flags.DEFINE_integer('num', 64, 'Samples in samples.png.')
_ROWS = flags.DEFINE_integer('rows', 10, 'Slots (rows) in slots.png.')
_COLS = flags.DEFINE_integer('cols', 10, 'Samples per slot (columns) in slots.png.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of z and slot draws.')


def key_statistics(memory, top: int = 20) -> dict:
  """How distinct the real slots are: cosines among the keys of the ``top`` most used real
  slots and among all real keys, and the histogram of real and fake slots."""
  import numpy as np
  keys, hist = np.asarray(memory.keys), np.asarray(memory.hist)
  real = np.asarray(memory.values) == 1
  order = np.argsort(-(hist * real))[:min(top, int(real.sum()))]
  out = {'num_real_slots': int(real.sum()), 'mean_hist': float(hist.mean())}
  for name, k in (('top_real', keys[order]), ('all_real', keys[real])):
    if len(k) > 1:
      cos = (k @ k.T)[np.triu_indices(len(k), 1)]
      out[f'{name}_key_cosine_min'] = float(cos.min())
      out[f'{name}_key_cosine_mean'] = float(cos.mean())
  out['top_real_hist'] = np.round(hist[order][:5], 3).tolist()
  # The layout by slot index, in 8 blocks: which slots the LRU has reached (the initial
  # memory is real on its first half) and how old they are.
  ages = np.asarray(memory.ages)
  blocks = np.array_split(np.arange(len(real)), min(8, len(real)))
  out['real_share_by_slot_block'] = [round(float(real[b].mean()), 4) for b in blocks]
  out['mean_age_by_slot_block'] = [round(float(ages[b].mean()), 2) for b in blocks]
  if real.any():
    out['real_hist_median'] = float(np.median(hist[real]))
  if (~real).any():
    out['fake_hist_median'] = float(np.median(hist[~real]))
  return out


def main(argv):
  del argv
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.ERROR)  # orbax warns about read-only managers
  import jax
  import numpy as np
  from mgan_jax import data
  from mgan_jax.evaluate import evaluation
  from mgan_jax import memory as mm
  from mgan_jax.train import runs, sampling, summary, training

  workdir = _WORKDIR.value
  try:
    run = runs.load_run(workdir)
  except runs.RunNotFoundError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)
  config, setup, state, step = run.config, run.setup, run.state, run.step
  generate = training.make_generate(setup, config.sample_bn_mode)
  outdir = _OUTDIR.value or os.path.join(workdir, 'final_samples')
  os.makedirs(outdir, exist_ok=True)
  vr = sampling.value_range(config.data.image_range)

  rng = jax.random.PRNGKey(_SEED.value)
  k = setup.head.num_generators()
  num = -(-_NUM.value // k) * k  # MAD-GAN: every generator an equal share
  if num != _NUM.value:
    print(f'--num={_NUM.value} rounded up to {num}, a multiple of the {k} generators')
  g_in, _ = sampling.generator_inputs(setup, state.memory, rng, num)
  images = np.asarray(generate(state, g_in))
  np.save(os.path.join(outdir, 'samples.npy'), images)
  summary.write_png(os.path.join(outdir, 'samples.png'), summary.image_grid(images, value_range=vr))
  written = ['samples.png', 'samples.npy']
  if state.memory is not None:
    rows = min(_ROWS.value, config.memory.num_slots)
    z = sampling.draw_z(jax.random.fold_in(rng, 1), _COLS.value, setup.z_dim)
    ranked, ranking = None, 'h v (no test split to rank slots by use)'
    try:  # rank by use: the slots that the most test images pick first
      test = data.load_images(config.data, 'test')[:evaluation.SLOT_USAGE_IMAGES]
    except (data.DatasetNotFoundError, ValueError, OSError):
      test = None
    if test is not None and len(test):
      ranked = evaluation.slots_by_use(setup, state, test, rows)[2] or None
      ranking = f'picked first by the most of {len(test)} test images'
    g_in, slots = sampling.slot_grid_inputs(state.memory, z, rows, ranked)
    rows = len(slots)
    images = sampling.generate_in_context(generate, state, setup, g_in,
                                          jax.random.fold_in(rng, 3))
    grid = summary.image_grid(images, rows=rows, value_range=vr)
    summary.write_png(os.path.join(outdir, 'slots.png'), grid)
    summary.write_png(os.path.join(outdir, 'slot_hist.png'),
                      evaluation.slot_histogram_image(state.memory))
    d = {k: float(v) for k, v in mm.diagnostics(state.memory,
                                                config=setup.memory_config).items()}
    print(f"memory: {d['distinct_real_keys']:.0f} distinct real keys "
          f"({d['distinct_top20']:.0f} among the 20 most used), prior gap "
          f"{d['prior_gap']:.2f} (2 kappa = {d['prior_gap_limit']:.0f})")
    d.update(key_statistics(state.memory))
    with open(os.path.join(outdir, 'memory.json'), 'w') as f:
      json.dump({'step': step, 'slots_in_rows': np.asarray(slots).tolist(),
                 'rows_ranked_by': ranking, **d}, f, indent=2)
    written += ['slots.png', 'slot_hist.png', 'memory.json']
  if k > 1:
    z = sampling.draw_z(jax.random.fold_in(rng, 2), _COLS.value, setup.z_dim)
    rows = sampling.rows_by_generator(generate(state, sampling.generator_grid_inputs(z, k)), k)
    summary.write_png(os.path.join(outdir, 'generators.png'),
                      summary.image_grid(rows, rows=k, value_range=vr))
    written.append('generators.png')
  print(f'Wrote {", ".join(written)} for step {step} to {outdir}')


if __name__ == '__main__':
  app.run(main)
