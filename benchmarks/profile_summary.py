r"""What dominates a traced train step: totals per XLA operation from a jax.profiler trace.

    python -m experiments.train --config=fashion --workdir=/tmp/prof \
        --config.num_steps=25 --config.profile_steps=10 --config.profile_start_after=10
    python -m benchmarks.profile_summary --trace_dir=/tmp/prof/profile [--top=25]

Reads the newest ``*.trace.json.gz`` under ``--trace_dir`` (the Chrome-trace file that
TensorBoard's profile plugin also reads), keeps the events of the XLA executor threads
(those that name an HLO op), and prints the time per op name summed over the traced steps,
grouped into kinds (convolution, matmul, top-k/sort, reduction, fusion, copy/transpose,
scatter/gather, ...) with their share of the traced op time. On a CPU, XLA runs independent
ops on several threads at once, so op time adds up to more than the wall time. Not a test.
"""

import collections
import glob
import gzip
import json
import os
import re

from absl import app
from absl import flags

_DIR = flags.DEFINE_string('trace_dir', None, 'A jax.profiler trace directory.', required=True)
_TOP = flags.DEFINE_integer('top', 25, 'Ops to list.')
_STEPS = flags.DEFINE_integer('steps', 0, 'Traced steps (for per-step figures; 0: unknown).')
_MODULE = flags.DEFINE_string('module', 'step', 'Only HLO modules whose name contains this.')

KINDS = (  # (kind, regular expression on the op name), first match wins
    ('convolution', r'convolution|conv'),
    ('matmul (dot)', r'\bdot|gemm|matmul'),
    ('top-k / sort', r'top-?k|sort'),
    ('scatter / gather', r'scatter|gather|dynamic-update-slice|dynamic-slice'),
    ('reduction', r'reduce'),
    ('copy / transpose', r'copy|transpose|bitcast|concatenate|pad|slice'),
    ('elementwise fusion', r'fusion|loop|add|multiply|exp|log|select|compare|maximum'),
)


def kind_of(name: str) -> str:
  lowered = name.lower()
  for kind, pattern in KINDS:
    if re.search(pattern, lowered):
      return kind
  return 'other'


def load_events(trace_dir: str):
  files = sorted(glob.glob(os.path.join(trace_dir, '**', '*.trace.json.gz'), recursive=True),
                 key=os.path.getmtime)
  if not files:
    raise SystemExit(f'error: no *.trace.json.gz under {trace_dir} (run the trainer with '
                     '--config.profile_steps=N first)')
  with gzip.open(files[-1], 'rt') as f:
    trace = json.load(f)
  return files[-1], trace.get('traceEvents', [])


def summarize(events, module: str):
  """``(total us per HLO op, calls per op)`` over the complete events that name an HLO op of
  a module whose name contains ``module`` (the train step: jit_step / pmap_step)."""
  totals = collections.Counter()
  counts = collections.Counter()
  for e in events:
    args = e.get('args', {})
    if e.get('ph') != 'X' or 'hlo_op' not in args or module not in args.get('hlo_module', ''):
      continue
    totals[args['hlo_op']] += float(e['dur'])
    counts[args['hlo_op']] += 1
  return totals, counts


def main(argv):
  del argv
  path, events = load_events(_DIR.value)
  totals, counts = summarize(events, _MODULE.value)
  if not totals:
    names = collections.Counter(e.get('name') for e in events if e.get('ph') == 'X')
    raise SystemExit(f'error: no XLA op events in {path}; most common events: '
                     f'{names.most_common(10)}')
  total = sum(totals.values())
  per_step = f', {total / 1e3 / _STEPS.value:.1f} ms per step' if _STEPS.value else ''
  print(f'# {path}: {len(totals)} op names, {total / 1e3:.1f} ms of op time{per_step}')
  by_kind = collections.Counter()
  for name, t in totals.items():
    by_kind[kind_of(name)] += t
  print('| kind | ms | share |')
  print('|---|---|---|')
  for kind, t in by_kind.most_common():
    print(f'| {kind} | {t / 1e3:.1f} | {100 * t / total:.1f}% |')
  print(f'\n| top {_TOP.value} ops | calls | ms | share |')
  print('|---|---|---|---|')
  for name, t in totals.most_common(_TOP.value):
    print(f'| {name[:60]} | {counts[name]} | {t / 1e3:.1f} | {100 * t / total:.1f}% |')


if __name__ == '__main__':
  app.run(main)
