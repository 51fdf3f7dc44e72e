r"""Compares groups of training runs seed by seed, from the scores they wrote.

    python -m experiments.compare \
        --group='memory=runs/study/fashion_mem_wk128_s*' \
        --group='dcgan=runs/study/fashion_dcgan_alt_s*' --metric=fid,precision

Each ``--group=NAME=GLOB`` is a set of run directories, one per seed (the seed is read from
each run's config.json); the scores are the evaluations during training
(``eval_log.jsonl``) and those of ``experiments.evaluate`` (``eval_step_STEP/eval.json``).
For every metric it prints, as Markdown:

* per step: each group's mean +- sample standard deviation (n - 1) and number of runs;
  the first group against each other one on the seeds both have, the mean paired
  difference (first minus other), how many seeds each wins, and an exact two-sided sign
  test over those wins (``mgan_jax/evaluate/results.py``);
* per seed: every run's value at every step.

Reads JSON files only: no checkpoint is opened, no run is changed. ``--json`` also writes
the numbers to a file.
"""

import json
import sys

from absl import app
from absl import flags

from mgan_jax.evaluate import results

_GROUPS = flags.DEFINE_multi_string(
    'group', None, 'NAME=GLOB: the run directories of one model or setting, one per seed. '
    'Repeat; the first group is compared with each other one.', required=True)
_METRICS = flags.DEFINE_list('metric', ['fid'], 'Scores to compare (as in eval.json).')
_STEPS = flags.DEFINE_list('steps', None, 'Only these steps (default: every evaluated one).')
_BETTER = flags.DEFINE_enum('better', None, ['lower', 'higher'],
                            'Which way is better (default: known for the standard scores).')
_JSON = flags.DEFINE_string('json', None, 'Also write the comparison to this JSON file.')


def parse_groups(specs):
  groups = {}
  for spec in specs:
    name, sep, pattern = spec.partition('=')
    if not sep or not name or not pattern:
      raise results.ResultsError(f'--group={spec!r}: write it as NAME=GLOB, e.g. '
                                 "--group='dcgan=runs/study/fashion_dcgan_alt_s*'")
    if name in groups:
      raise results.ResultsError(f'two groups are named {name!r}')
    groups[name] = results.read_group(pattern)
  return groups


def _fmt(x):
  return f'{x:.4g}' if abs(x) < 1e4 else f'{x:.0f}'


def compare(groups, metric, steps=None, better=None):
  """The Markdown text and a JSON-able dict for one metric."""
  names = list(groups)
  runs = list(groups.values())
  direction = results.better_direction(metric, better)
  all_steps = results.steps_of(runs, metric)
  if not all_steps:
    present = sorted({m for rs in runs for r in rs for v in r.scores.values() for m in v})
    raise results.ResultsError(f'no run has a {metric!r} score; the runs have: '
                               f'{", ".join(present) or "no scores at all"}')
  if steps:
    missing = sorted(set(steps) - set(all_steps))
    if missing:
      raise results.ResultsError(f'no {metric!r} score at step(s) {missing}; evaluated '
                                 f'steps: {all_steps}')
    all_steps = sorted(steps)
  lines = [f'### {metric} ({direction} is better)', '']
  head = ['step'] + [f'{n} (mean +- sd, n)' for n in names]
  for other in names[1:]:
    head += [f'{names[0]} - {other} (mean +- sd)', f'seeds won {names[0]} / {other}',
             'sign test p']
  lines += ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
  out = {'metric': metric, 'better': direction, 'steps': {}}
  for step in all_steps:
    row, entry = [str(step)], {}
    for name, group in groups.items():
      values = [r.scores[step][metric] for r in group if metric in r.scores.get(step, {})]
      if values:
        mean, sd = results.mean_sd(values)
        row.append(f'{_fmt(mean)} +- {_fmt(sd)} ({len(values)})')
      else:
        row.append('-')
      entry[name] = values
    for other in names[1:]:
      pair = results.paired(groups[names[0]], groups[other], metric, step, direction)
      if pair.seeds:
        mean, sd = results.mean_sd(pair.differences)
        row += [f'{mean:+.4g} +- {_fmt(sd)}', f'{pair.wins_a} / {pair.wins_b}'
                + (f' ({pair.ties} tied)' if pair.ties else ''), f'{pair.p_value:.3g}']
      else:
        row += ['-', '-', '-']
      entry[f'{names[0]} vs {other}'] = dict(
          seeds=pair.seeds, wins=[pair.wins_a, pair.wins_b], ties=pair.ties,
          p_value=pair.p_value)
    lines.append('| ' + ' | '.join(row) + ' |')
    out['steps'][step] = entry
  # Per seed: each group's value at each step.
  lines += ['', '| group | seed | ' + ' | '.join(str(s) for s in all_steps) + ' |',
            '|' + '---|' * (len(all_steps) + 2)]
  for name, group in groups.items():
    for r in group:
      cells = [_fmt(r.scores[s][metric]) if metric in r.scores.get(s, {}) else '-'
               for s in all_steps]
      lines.append(f'| {name} | {r.seed} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines), out


def main(argv):
  if len(argv) > 1:
    sys.exit(f'error: unexpected argument(s) {" ".join(argv[1:])}; options are --group, '
             '--metric, --steps, --better, --json')
  try:
    steps = [int(s) for s in _STEPS.value] if _STEPS.value else None
  except ValueError:
    sys.exit(f'error: --steps must be whole numbers, got {",".join(_STEPS.value)}')
  try:
    groups = parse_groups(_GROUPS.value)
    for name, group in groups.items():
      print(f'{name}: {len(group)} run(s), seeds {[r.seed for r in group]}: '
            + ', '.join(r.workdir for r in group))
    print()
    payload = []
    for metric in _METRICS.value:
      text, out = compare(groups, metric, steps, _BETTER.value)
      print(text + '\n')
      payload.append(out)
  except results.ResultsError as e:
    sys.exit(f'error: {e}')
  if _JSON.value:
    with open(_JSON.value, 'w') as f:
      json.dump({'groups': {n: [r.workdir for r in g] for n, g in groups.items()},
                 'metrics': payload}, f, indent=2)


if __name__ == '__main__':
  app.run(main)
