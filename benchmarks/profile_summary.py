r"""What dominates a traced train step: totals per XLA operation from a jax.profiler trace.

    python -m experiments.train --config=fashion --workdir=/tmp/prof \
        --config.num_steps=25 --config.profile_steps=10 --config.profile_start_after=10
    python -m benchmarks.profile_summary --trace_dir=/tmp/prof/profile [--top=25]

Reads the newest ``*.trace.json.gz`` under ``--trace_dir`` (the Chrome-trace file that
TensorBoard's profile plugin also reads), keeps the events of the XLA executor threads
(those that name an HLO op), and prints the time per op name summed over the traced steps,
grouped into kinds (convolution, matmul, top-k/sort, reduction, fusion, copy/transpose,
scatter/gather, ...) with their share of the traced op time. On a CPU an op's work is
split over the threads and each thread's part is an event, so op time is CPU time and adds
up to more than the wall time.

The trainer writes the compiled step's HLO beside the trace (``train_step.hlo.txt``); with
it, each op is classified by what it computes (a fusion by the convolution, dot, reduce,
... inside it) and attributed to its source: the Flax module path in the op's metadata
(e.g. ``ConvGenerator/ConvBlock_0``), forward or backward; ops outside the networks (the
memory, the losses, the optimizer) are grouped by their JAX primitive. Not a test.
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
    ('CUDA graph (several ops)', r'^command_buffer'),
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


_INSTRUCTION = re.compile(r'^\s+(?:ROOT )?%?([\w.\-]+) = \S+(?: \S+)*? ([\w\-]+)\(')
_HEADER = re.compile(r'^(?:ENTRY )?%?([\w.\-]+) .*\{\s*$')


def parse_hlo(text: str) -> dict[str, dict]:
  """HLO op name -> {'kind': what it computes, 'op_name': its JAX metadata}."""
  bodies: dict[str, list[str]] = {}
  ops = {}
  current = None
  for line in text.splitlines():
    header = _HEADER.match(line)
    if header and not line.startswith(' '):
      current = header.group(1)
      bodies[current] = []
      continue
    m = _INSTRUCTION.match(line)
    if not m or current is None:
      continue
    name, opcode = m.group(1), m.group(2)
    bodies[current].append(opcode)
    calls = re.search(r'calls=%?([\w.\-]+)', line)
    target = re.search(r'custom_call_target="([^"]+)"', line)
    op_name = re.search(r'op_name="([^"]+)"', line)
    ops[name] = {'opcode': opcode, 'calls': calls.group(1) if calls else None,
                 'target': target.group(1) if target else None,
                 'op_name': op_name.group(1) if op_name else ''}
  for op in ops.values():
    inner = set(bodies.get(op['calls'], [])) if op['calls'] else set()
    codes = inner | {op['opcode']}
    target = (op['target'] or '').lower()
    if 'topk' in target or 'sort' in codes:
      kind = 'top-k / sort'
    elif 'convolution' in codes or 'conv' in target:  # on a GPU: cuDNN custom calls
      kind = 'convolution'
    elif 'dot' in codes or 'gemm' in target or 'matmul' in target:  # cuBLAS custom calls
      kind = 'matmul (dot)'
    elif codes & {'scatter', 'gather', 'dynamic-slice', 'dynamic-update-slice'}:
      kind = 'scatter / gather'
    elif codes & {'reduce', 'reduce-window'}:
      kind = 'reduction'
    elif codes <= {'copy', 'transpose', 'bitcast', 'fusion', 'parameter', 'concatenate',
                   'slice', 'pad', 'reshape', 'broadcast', 'constant'}:
      kind = 'copy / transpose'
    else:
      kind = 'elementwise fusion'
    op['kind'] = kind
  return ops


def source_of(op_name: str) -> str:
  """'ConvGenerator/ConvBlock_0 (backward)', or 'outside the networks: top_k' and the like."""
  parts = op_name.split('/')[1:]  # drop 'jit(step)' / 'pmap(step)'
  backward = any('transpose(' in p for p in parts)
  cleaned = [re.sub(r'^(?:[\w]+\()+', '', p).rstrip(')') for p in parts[:-1]]
  modules = [p for p in cleaned if p[:1].isupper()]
  if modules:
    return '/'.join(modules[:2]) + (' (backward)' if backward else '')
  primitive = re.sub(r'^(?:[\w]+\()+', '', parts[-1]).rstrip(')') if parts else '(no metadata)'
  return f'outside the networks: {primitive}' + (' (backward)' if backward else '')


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
  hlo_path = os.path.join(_DIR.value, 'train_step.hlo.txt')
  ops = {}
  if os.path.exists(hlo_path):
    with open(hlo_path) as f:
      ops = parse_hlo(f.read())
  else:
    print(f'(no {hlo_path}: kinds guessed from op names, no sources)')
  by_kind, by_source = collections.Counter(), collections.Counter()
  for name, t in totals.items():
    op = ops.get(name)
    by_kind[op['kind'] if op else kind_of(name)] += t
    if op:
      by_source[source_of(op['op_name'])] += t
  print('| kind | ms | share |')
  print('|---|---|---|')
  for kind, t in by_kind.most_common():
    print(f'| {kind} | {t / 1e3:.1f} | {100 * t / total:.1f}% |')
  if by_source:
    print(f'\n| source (top {_TOP.value}) | ms | share |')
    print('|---|---|---|')
    for source, t in by_source.most_common(_TOP.value):
      print(f'| {source} | {t / 1e3:.1f} | {100 * t / total:.1f}% |')
  print(f'\n| top {_TOP.value} ops | kind | JAX op | calls | ms | share |')
  print('|---|---|---|---|---|---|')
  for name, t in totals.most_common(_TOP.value):
    op = ops.get(name, {})
    print(f"| {name[:40]} | {op.get('kind') or kind_of(name)} | {op.get('op_name', '')[-70:]} | "
          f'{counts[name]} | {t / 1e3:.1f} | {100 * t / total:.1f}% |')


if __name__ == '__main__':
  app.run(main)
