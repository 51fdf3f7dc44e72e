"""The pieces of the training loop: periodic actions, the profiler, the discriminator watch,
the signal handling and the progress line (:mod:`mgan_jax.train.trainer` puts them together).
"""

import dataclasses
import os
import signal
import threading
from typing import Any, Callable, Optional

import jax


@dataclasses.dataclass
class Progress:
  """The start of the current rate window: its time and step."""

  t_window: float = 0.0
  steps_window: int = 0

  def rate(self, now: float, step: int) -> float:
    return (step - self.steps_window) / max(now - self.t_window, 1e-9)


class StoppedBySignal(Exception):
  """SIGINT or SIGTERM stopped the run after a step; a checkpoint of that step was saved.
  ``exit_code`` is the shell's for the signal (130 for SIGINT, 143 for SIGTERM)."""

  def __init__(self, message: str, exit_code: int):
    super().__init__(message)
    self.exit_code = exit_code


class StopRequest:
  """Turns SIGINT and SIGTERM (a preemptible TPU VM's notice) into a request that the loop
  honours after the current step; a second signal stops at once. Installed only in the main
  thread, and the previous handlers are put back on exit."""

  def __init__(self):
    self.signum = None
    self._previous = {}

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for sig in (signal.SIGINT, signal.SIGTERM):
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def _handle(self, signum, frame):
    del frame
    if self.signum is not None:
      raise KeyboardInterrupt
    self.signum = signum
    print(f'{signal.Signals(signum).name} received: stopping after this step (again to stop '
          'at once).', flush=True)

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    return False


@dataclasses.dataclass
class PeriodicAction:
  """Runs ``fn(step, state)`` every ``every`` steps, at the last step, at the steps in ``at``,
  and whenever ``also()`` says so (in the manner of CLU's periodic actions)."""

  every: int
  fn: Callable[[int, Any], None]
  at: tuple = ()
  also: Optional[Callable[[], bool]] = None

  def __call__(self, step: int, state, last: bool) -> None:
    if step % self.every == 0 or last or step in self.at or (self.also and self.also()):
      self.fn(step, state)


class Profiler:
  """Traces ``num`` steps from step ``start`` with ``jax.profiler`` into ``WORKDIR/profile``,
  with the compiled step's HLO beside the trace (to name its ops: benchmarks/profile_summary)."""

  def __init__(self, workdir: str, start: int, num: int):
    self.directory = os.path.join(workdir, 'profile')
    self.start, self.stop = start, start + num
    self.num = num

  def before(self, step: int, step_fn, args) -> None:
    if self.num and step == self.start:
      os.makedirs(self.directory, exist_ok=True)
      with open(os.path.join(self.directory, 'train_step.hlo.txt'), 'w') as f:
        f.write(step_fn.lower(*args).compile().as_text())
      jax.profiler.start_trace(self.directory)

  def after(self, done: int, state) -> None:
    if self.num and done == self.stop:
      jax.block_until_ready(state)
      jax.profiler.stop_trace()
      print(f'Profile of steps {self.start}-{self.stop - 1} written to {self.directory}',
            flush=True)


@dataclasses.dataclass
class DiscriminatorWatch:
  """Says when the discriminator has won: ``D(real) > 1 - eps`` and ``D(fake) < eps`` (window
  means) for ``windows`` log windows in a row. The generator then gets (almost) no gradient:
  with the memory's output clipped at 1e-3, none at all."""

  windows: int = 3
  eps: float = 0.01
  streak: int = 0

  def update(self, metrics: dict) -> bool:
    won = metrics['d_real'] > 1.0 - self.eps and metrics['d_fake'] < self.eps
    self.streak = self.streak + 1 if won else 0
    return self.windows > 0 and self.streak >= self.windows


def _format_eta(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  h, rem = divmod(seconds, 3600)
  return f'{h}h{rem // 60:02d}m' if h else f'{rem // 60}m{rem % 60:02d}s'


def progress_line(step, num_steps, rate, metrics) -> str:
  eta = _format_eta((num_steps - step) / max(rate, 1e-9))
  parts = [f'step {step}/{num_steps}', f'{rate:.2f} steps/s', f'ETA {eta}',
           f"d_loss {metrics['d_loss']:.4f}", f"g_loss {metrics['g_loss']:.4f}",
           f"D(real) {metrics['d_real']:.3f}", f"D(fake) {metrics['d_fake']:.3f}"]
  if 'memory/real_fraction' in metrics:
    parts += [f"mem real {metrics['memory/real_fraction']:.3f}",
              f"eff.slots {metrics['memory/effective_real_slots']:.1f}",
              f"hit real/fake {metrics['memory/real_hit_rate']:.2f}/"
              f"{metrics['memory/fake_hit_rate']:.2f}",
              f"distinct keys {metrics['memory/distinct_real_keys']:.0f} "
              f"(top20 {metrics['memory/distinct_top20']:.0f})",
              f"prior gap {metrics['memory/prior_gap']:.2f} "
              f"(2 kappa {metrics['memory/prior_gap_limit']:.0f})",
              f"split kappa {metrics['memory/split_threshold']:.1f}",
              f"written last {metrics['memory/written_last']:.2f}",
              f"G reads without a real slot {metrics['memory/g_reads_without_real_slot']:.2f}"]
  if 'semisup/supervised_loss' in metrics:
    parts += [f"supervised {metrics['semisup/supervised_loss']:.4f}",
              f"labelled-batch error {metrics['semisup/train_error']:.3f}"]
  if 'madgan/d_identifies_generator' in metrics:
    parts.append(f"D names the generator {metrics['madgan/d_identifies_generator']:.3f}")
  if 'madgan/similarity_violation' in metrics:
    parts.append(f"sim violation {metrics['madgan/similarity_violation']:.4f}")
  return ' | '.join(parts)
