r"""The 2D mode-collapse benchmark: MemoryGAN, the memory-free DCGAN, MAD-GAN and MAD-GAN-Sim
over several seeds.

    python -m experiments.mode_benchmark --config=ring8 [--seeds=0,1,2,3,4]
        [--models=memory,dcgan,madgan,madgan_sim] [--root=runs/modes]
        [--config.num_steps=5000]

Trains the config once per model and seed (``ROOT/NAME/MODEL_seedS``; a finished run is not
trained again, an interrupted one resumes), scores each final state on the protocol's
samples (2,500; :mod:`mgan_jax.evaluate.evaluation`: modes covered, share within 3 sigma,
reverse KL of the mode histogram) and writes each run's ``eval_step_STEP/eval.json`` (as
``experiments.evaluate`` does; ``experiments.compare`` pairs them by seed),
``ROOT/NAME/summary.json`` and a markdown table (mean +- standard deviation over the seeds,
and every seed) to stdout. Same budget for every model: the
config's steps, batch and optimiser; only the overrides of :data:`MODELS` differ (MAD-GAN's
k generators share the batch: each gets batch / k rows). For MAD-GAN the table adds, per
seed, the modes each generator wins (where it has the most high-quality samples).
"""

import json
import os

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from experiments import configs_lib

_CONFIG = config_flags.DEFINE_config_file('config', None, 'ring8 or grid25 (or a path).')
_SEEDS = flags.DEFINE_list('seeds', ['0', '1', '2', '3', '4'], 'Seeds (config.seed).')
# The models this benchmark knows: their overrides of the config.
MODELS = {
    'memory': {'model.kind': 'memory'},
    'dcgan': {'model.kind': 'dcgan'},
    'madgan': {'model.kind': 'madgan', 'madgan.similarity': False},
    'madgan_sim': {'model.kind': 'madgan', 'madgan.similarity': True},
}
_MODELS = flags.DEFINE_list('models', list(MODELS), f'Models to compare: {", ".join(MODELS)}.')
_ROOT = flags.DEFINE_string('root', 'runs/modes', 'Where the runs go.')

KEYS = ('modes', 'high_quality', 'reverse_kl')


def main(argv):
  del argv
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  import numpy as np
  from mgan_jax.evaluate import evaluation
  from mgan_jax.train import trainer
  base = _CONFIG.value
  if base.data.source != 'mixture':
    raise SystemExit(f'error: {base.data.name!r} is not a 2D mixture config (ring8, grid25)')
  name = base.data.mixture
  unknown = [m for m in _MODELS.value if m not in MODELS]
  if unknown:
    raise SystemExit(f'error: unknown model(s) {", ".join(unknown)}; known: '
                     f'{", ".join(MODELS)}')
  results = {}
  samples = None
  for model in _MODELS.value:
    for seed in (int(s) for s in _SEEDS.value):
      config = base.copy_and_resolve_references()
      for key, value in MODELS[model].items():
        section, field = key.split('.')
        config[section][field] = value
      config.seed = seed
      config.eval_every = 0
      workdir = os.path.join(_ROOT.value, name, f'{model}_seed{seed}')
      if config.num_steps not in trainer.available_steps(workdir):
        try:
          trainer.train_and_evaluate(config, workdir)
        except trainer.StoppedBySignal as e:  # rerunning the command resumes this run
          raise SystemExit(f'{e} (mode benchmark: {model}, seed {seed})') from None
      state, step = trainer.final_state(config, workdir, config.num_steps)
      evaluator = evaluation.Evaluator(config, seed=seed, pictures=False)
      samples = evaluator.num_samples
      result = evaluator(state, step)
      # As experiments.evaluate writes it, so experiments.compare can pair runs by seed.
      out = os.path.join(workdir, f'eval_step_{step}')
      os.makedirs(out, exist_ok=True)
      with open(os.path.join(out, 'eval.json'), 'w') as f:
        json.dump({'scores': result.scores, 'protocol': result.protocol}, f, indent=2)
      seconds = float('nan')  # the training's wall time (of its last session, if resumed)
      try:
        with open(os.path.join(workdir, 'last_metrics.json')) as f:
          seconds = float(json.load(f).get('seconds', seconds))
      except (OSError, ValueError):
        pass
      results.setdefault(model, []).append({'seed': seed, 'train_seconds': seconds,
                                            **result.scores})
      print(f'{model} seed {seed}: ' + ', '.join(f'{k} {result.scores[k]:.4g}' for k in KEYS),
            flush=True)
  summary = {'benchmark': name, 'num_steps': base.num_steps, 'batch_size': base.batch_size,
             'samples': samples, 'loss': base.loss, 'memory': base.memory.to_dict(),
             'per_seed': results, 'mean': {}, 'std': {}}
  lines = [f'# {name}: {base.num_steps} steps, batch {base.batch_size}, {samples:,} samples, '
           f'{len(_SEEDS.value)} seeds (mean +- std)',
           '| model | modes | high-quality share | reverse KL | training s per seed (median) |',
           '|---|---|---|---|---|']
  for model, rows in results.items():
    mean = {k: float(np.mean([r[k] for r in rows])) for k in KEYS}
    std = {k: float(np.std([r[k] for r in rows])) for k in KEYS}
    summary['mean'][model], summary['std'][model] = mean, std
    lines.append(f"| {model} | {mean['modes']:.1f} +- {std['modes']:.1f} | "
                 f"{100 * mean['high_quality']:.1f}% +- {100 * std['high_quality']:.1f} | "
                 f"{mean['reverse_kl']:.3f} +- {std['reverse_kl']:.3f} | "
                 f"{np.median([r['train_seconds'] for r in rows]):.0f} |")
  for model, rows in results.items():
    lines.append(f'{model} per seed: ' + '; '.join(
        f"{r['seed']}: {r['modes']} modes, {100 * r['high_quality']:.1f}%, "
        f"KL {r['reverse_kl']:.3f}" for r in rows))
    if 'generator_modes_won' in rows[0]:
      lines.append(f'{model} modes won by each generator, per seed: ' + '; '.join(
          f"{r['seed']}: {r['generator_modes_won']}" for r in rows))
  os.makedirs(os.path.join(_ROOT.value, name), exist_ok=True)
  with open(os.path.join(_ROOT.value, name, 'summary.json'), 'w') as f:
    json.dump(summary, f, indent=2)
  print('\n'.join(lines))


if __name__ == '__main__':
  app.run(main, flags_parser=configs_lib.parse_flags_with_config_names)
