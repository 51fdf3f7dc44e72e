r"""Where the test suite's time goes, from a ``--duration_log`` file (tests/conftest.py).

    python -m pytest --duration_log=/tmp/durations.tsv
    python -m benchmarks.suite_durations --log=/tmp/durations.tsv [--top=25]

Prints, as Markdown, the test time per file and the slowest tests, each with the seconds
JAX spent in that test's process compiling (XLA), tracing and lowering to MLIR; the rest is
running, Python, and any subprocess the test started. A file that was appended to by
several suite runs holds them all: start from an empty one.
"""

import collections
import csv

from absl import app
from absl import flags

_LOG = flags.DEFINE_string('log', None, 'The --duration_log file.', required=True)
_TOP = flags.DEFINE_integer('top', 25, 'Slowest tests to list.')

COLUMNS = ('seconds', 'compile_s', 'trace_s', 'lower_s')


def read(path):
  rows = []
  with open(path) as f:
    for fields in csv.reader(f, delimiter='\t'):
      test, outcome, *numbers = fields
      rows.append(dict(test=test, outcome=outcome,
                       **{c: float(x) for c, x in zip(COLUMNS, numbers)}))
  return rows


def table(title, items):
  lines = [f'| {title} | s | compile s | trace s | lower s |', '|---|---|---|---|---|']
  lines += [f'| {name} | ' + ' | '.join(f'{row[c]:.1f}' for c in COLUMNS) + ' |'
            for name, row in items]
  return '\n'.join(lines)


def main(argv):
  del argv
  rows = read(_LOG.value)
  by_file = collections.defaultdict(lambda: dict.fromkeys(COLUMNS, 0.0))
  total = dict.fromkeys(COLUMNS, 0.0)
  for row in rows:
    for c in COLUMNS:
      by_file[row['test'].split('::')[0]][c] += row[c]
      total[c] += row[c]
  outcomes = collections.Counter(row['outcome'] for row in rows)
  print(f'{len(rows)} tests ({dict(outcomes)}): ' + ', '.join(
      f'{c} {total[c]:.0f}' for c in COLUMNS) + ' (summed over the worker processes)\n')
  print(table('file', sorted(by_file.items(), key=lambda kv: -kv[1]['seconds'])) + '\n')
  slowest = sorted(rows, key=lambda r: -r['seconds'])[:_TOP.value]
  print(table('test', [(r['test'], r) for r in slowest]))


if __name__ == '__main__':
  app.run(main)
