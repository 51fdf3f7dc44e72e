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
