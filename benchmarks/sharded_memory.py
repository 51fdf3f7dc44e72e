r"""Cost of a read + write of the sharded memory on 1, 2, 4, 8 devices (same N, same batch).

    python -m benchmarks.sharded_memory                    # N=262144, M=512, global B=64, k=256
    python -m benchmarks.sharded_memory --devices=1,2,4,8 --sizes=1048576:512:64:256

For each device count D, a fresh process (``XLA_FLAGS=--xla_force_host_platform_device_count=D``
on a CPU; the real devices on an accelerator, where D must not exceed them) builds the same
memory (N slots, M dims) and the same global batch of B queries (half real), splits both
over the D devices, and times ``mgan_jax.memory.read`` + ``write`` (``sharded=True``) in one
pmap-ed, memory-donating function (median of ``--repeats`` calls after warm-up). It prints, per D:
the slots per device, the wall time, and XLA's cost analysis of the per-device program
(FLOPs and bytes accessed): the work each device does. On host "devices" of one CPU the D
programs share the same cores, so the wall time shows the sharding's overhead, not a
speed-up; the per-device FLOPs and bytes show what a device would do on a real mesh. The
unsharded ``mgan_jax.memory`` on one device is timed as the reference. Not a test.
"""

import json
import os
import subprocess
import sys

from absl import app
from absl import flags
import numpy as np

from benchmarks.timing import median_ms

_DEVICES = flags.DEFINE_list('devices', ['1', '2', '4', '8'], 'Device counts to time.')
_SIZES = flags.DEFINE_list('sizes', ['262144:512:64:256'],
                           'Cases N:M:B:k (B = the global batch, split over the devices).')
_REPEATS = flags.DEFINE_integer('repeats', 10, 'Timed calls (median taken).')
_WORKER = flags.DEFINE_integer('worker', 0, 'Internal: time this device count and exit.')
_CASE = flags.DEFINE_string('case', '', 'Internal: the case of a worker.')
_HOST_DEVICES = flags.DEFINE_bool(
    'host_devices', True, 'Split the CPU into D host devices (off on an accelerator).')


def _cost(compiled):
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost.get('flops', 0.0)), float(cost.get('bytes accessed', 0.0))


def worker(num_devices: int, case: str, repeats: int) -> dict:
  import jax
  import jax.numpy as jnp
  from mgan_jax import memory as mm
  n, m, b, k = (int(x) for x in case.split(':'))
  if jax.local_device_count() < num_devices:
    raise SystemExit(f'{num_devices} devices asked, {jax.local_device_count()} present')
  if b % num_devices or (b // num_devices) % 2:
    raise SystemExit(f'global batch {b} does not split into real/fake halves on '
                     f'{num_devices} devices')
  cfg = mm.MemoryConfig(num_slots=n, key_dim=m, choose_k=k)
  rng = np.random.default_rng(0)
  keys = rng.normal(size=(n, m)).astype(np.float32)
  keys /= np.linalg.norm(keys, axis=1, keepdims=True)
  memory = mm.Memory(keys=keys, values=rng.integers(0, 2, n).astype(np.int32),
                     ages=rng.integers(0, 100, n).astype(np.int32),
                     hist=rng.gamma(1.0, 1.0, n).astype(np.float32))
  q = rng.normal(size=(b, m)).astype(np.float32)
  q /= np.linalg.norm(q, axis=1, keepdims=True)
  per = b // num_devices
  y = np.tile(np.r_[np.ones(per // 2), np.zeros(per // 2)].astype(np.int32), num_devices)

  def sharded(local, queries, labels):
    out = mm.read(local, queries, cfg, 'm', sharded=True)
    local, _ = mm.write(local, queries, labels, cfg, 'm', sharded=True)
    return local, out.prob_real

  step = jax.pmap(sharded, axis_name='m', donate_argnums=0,
                  devices=jax.local_devices()[:num_devices])
  qs, ys = q.reshape(num_devices, per, m), y.reshape(num_devices, per)
  local = mm.shard(jax.tree.map(jnp.asarray, memory), num_devices)
  flops, bytes_ = _cost(step.lower(local, qs, ys).compile())
  result = dict(devices=num_devices, case=case, slots_per_device=n // num_devices,
                flops=flops, bytes=bytes_,
                ms=median_ms(lambda s: step(s, qs, ys)[0], local, repeats),
                device_kind=jax.devices()[0].device_kind, backend=jax.default_backend())
  if num_devices == 1:
    def whole(mem):
      out = mm.read(mem, jnp.asarray(q), cfg)
      mem, _ = mm.write(mem, jnp.asarray(q), jnp.asarray(y), cfg)
      return mem, out.prob_real
    whole_step = jax.jit(whole, donate_argnums=0)
    mem = jax.tree.map(jnp.asarray, memory)
    result['whole_flops'], result['whole_bytes'] = _cost(whole_step.lower(mem).compile())
    result['whole_ms'] = median_ms(lambda s: whole_step(s)[0], mem, repeats)
  return result


def main(argv):
  del argv
  if _WORKER.value:
    print('RESULT ' + json.dumps(worker(_WORKER.value, _CASE.value, _REPEATS.value)))
    return
  for case in _SIZES.value:
    rows = []
    for d in (int(x) for x in _DEVICES.value):
      env = dict(os.environ)
      if _HOST_DEVICES.value:
        env['XLA_FLAGS'] = (env.get('XLA_FLAGS', '') +
                            f' --xla_force_host_platform_device_count={d}').strip()
      out = subprocess.run([sys.executable, '-m', 'benchmarks.sharded_memory', f'--worker={d}',
                            f'--case={case}', f'--repeats={_REPEATS.value}'],
                           env=env, capture_output=True, text=True)
      line = [x for x in out.stdout.splitlines() if x.startswith('RESULT ')]
      if out.returncode or not line:
        raise SystemExit(f'worker for {d} device(s) failed:\n{out.stderr[-3000:]}')
      rows.append(json.loads(line[0][len('RESULT '):]))
    n, m, b, k = case.split(':')
    first = rows[0]
    print(f'# sharded read + write: N={n}, M={m}, global B={b}, k={k}; '
          f'{first["backend"]} ({first["device_kind"]})'
          f'{", host devices on one CPU" if _HOST_DEVICES.value else ""}')
    if 'whole_ms' in first:
      print(f'unsharded mgan_jax.memory, one device: {first["whole_ms"]:.1f} ms, '
            f'{first["whole_flops"] / 1e9:.2f} GFLOP, {first["whole_bytes"] / 1e9:.2f} GB')
    print('| devices | slots/device | wall ms (median) | GFLOP per device | '
          'GB accessed per device |')
    print('|---|---|---|---|---|')
    for r in rows:
      print(f'| {r["devices"]} | {r["slots_per_device"]} | {r["ms"]:.1f} | '
            f'{r["flops"] / 1e9:.3f} | {r["bytes"] / 1e9:.3f} |')


if __name__ == '__main__':
  app.run(main)
