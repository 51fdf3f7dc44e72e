"""Test-session set-up: 8 host CPU devices, so pmap tests run on any machine.

XLA reads XLA_FLAGS once, when JAX first starts a backend, so this must run before any test
module touches JAX; conftest.py is imported first.
"""

import atexit
import os
import shutil
import tempfile

_FLAG = '--xla_force_host_platform_device_count=8'
# The tests' programs are tiny and compiled once each: XLA's LLVM optimisation of the CPU
# code costs far more than it saves (a tiny training run's initialisation: 5.9 s to compile
# at the default level, 0.6 s at 0; the 17 configs' two-step runs 278 -> 152 s), and so do
# XLA:CPU's MLIR fusion emitters (the tiny celeba train step: 7.9 s to compile with them,
# 3.2-3.6 s without; jax 0.10.2, 2026-12-03). Numbers are unchanged in kind: both sides of
# every comparison are compiled the same way. Subprocesses get them too
# (SUBPROCESS_XLA_FLAGS); a user's own XLA_FLAGS are kept.
FAST_COMPILE = '--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false'
# XLA:CPU aborts the process (``Fatal Python error: Aborted``, no message) when a device
# thread waits more than 40 s for the others at a collective; on a loaded 2-core machine
# 8 device threads can fall that far apart (the suite beside a training run, 2026-12-03: the
# sharded-memory run aborted in its sample grid's all-gather). The tests wait instead.
PATIENT_COLLECTIVES = ('--xla_cpu_collective_call_terminate_timeout_seconds=1800 '
                       '--xla_cpu_collective_call_warn_stuck_timeout_seconds=300 '
                       '--xla_cpu_collective_timeout_seconds=1800')
SUBPROCESS_XLA_FLAGS = f'{FAST_COMPILE} {PATIENT_COLLECTIVES}'
for _flag in (_FLAG, *FAST_COMPILE.split(), *PATIENT_COLLECTIVES.split()):
  if _flag.split('=')[0] not in os.environ.get('XLA_FLAGS', ''):
    os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') + ' ' + _flag).strip()
os.environ.setdefault('JAX_PLATFORMS', 'cpu')

# One XLA compilation cache for the test session, shared with the subprocesses the tests
# start (the train, evaluate and sample commands compile the same tiny steps again and
# again); removed at exit. A cache the user set up is used as it is.
if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
  _CACHE = tempfile.mkdtemp(prefix='mgan_jax_tests_xla_cache_')
  atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
  os.environ['JAX_COMPILATION_CACHE_DIR'] = _CACHE
  os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0.2')


def pytest_xdist_auto_num_workers(config):
  """``-n auto`` (setup.cfg): one worker per core, at most 4. The tests are compile-bound
  (one core each); more workers than cores only share them, and each worker holds its own
  JAX runtime (about 1-2 GB)."""
  del config
  cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
  return max(1, min(4, cores or 1))


# The longest tests go first: with several workers, a long test that starts last keeps one
# worker busy while the others idle (the two-process multi-host test is ~3 minutes alone).
LONG_FIRST = ('tests/test_multihost.py', 'tests/test_inception.py')


def pytest_collection_modifyitems(config, items):
  del config

  def rank(item):
    for i, prefix in enumerate(LONG_FIRST):
      if item.nodeid.startswith(prefix):
        return i
    return len(LONG_FIRST)

  items[:] = sorted(items, key=rank)  # stable: the rest keep their order


# --------------------------------------------------------------------------------------
# Where the suite's time goes: `python -m pytest --duration_log=FILE`, then
# `python -m benchmarks.suite_durations --log=FILE`. Each process that runs tests (every
# xdist worker) appends one tab-separated line per test: its call time and, from JAX's
# monitoring events in that process, the seconds spent compiling (XLA), tracing and
# lowering to MLIR, and the persistent-cache hits. Subprocesses a test starts are in its
# call time only.

DURATION_COLUMNS = ('test', 'outcome', 'seconds', 'compile_s', 'trace_s', 'lower_s',
                    'cache_hits')
_EVENTS = {'/jax/core/compile/backend_compile_duration': 'compile_s',
           '/jax/core/compile/jaxpr_trace_duration': 'trace_s',
           '/jax/core/compile/jaxpr_to_mlir_module_duration': 'lower_s',
           '/jax/compilation_cache/cache_hits': 'cache_hits'}
_spent = dict.fromkeys(_EVENTS.values(), 0.0)
_log_path = []  # the --duration_log file, once pytest_configure has read it


def pytest_addoption(parser):
  parser.addoption('--duration_log', default=None, metavar='FILE',
                   help='append per-test call seconds and JAX compile/trace/lowering '
                        'seconds to FILE (summary: python -m benchmarks.suite_durations)')


def pytest_configure(config):
  if config.getoption('duration_log'):
    _log_path.append(config.getoption('duration_log'))
    from jax._src import monitoring  # the listeners JAX's own compile logging feeds

    def on_duration(event, seconds, **_):
      if event in _EVENTS:
        _spent[_EVENTS[event]] += seconds

    def on_event(event, **_):
      if event in _EVENTS:
        _spent[_EVENTS[event]] += 1

    monitoring.register_event_duration_secs_listener(on_duration)
    monitoring.register_event_listener(on_event)


def pytest_runtest_setup(item):
  del item
  for name in _spent:
    _spent[name] = 0.0


def pytest_runtest_logreport(report):
  # Written by the process that ran the test (an xdist controller sees it with a node).
  if not _log_path or getattr(report, 'node', None) is not None:
    return
  if report.when == 'call' or report.outcome != 'passed':
    row = [report.nodeid, report.outcome, f'{report.duration:.2f}',
           *(f'{_spent[c]:.2f}' for c in DURATION_COLUMNS[3:])]
    with open(_log_path[0], 'a') as f:
      f.write('\t'.join(row) + '\n')
