"""Orbax checkpoints of the train state, with the config that made them.

Each checkpoint holds the (unreplicated) :class:`~mgan_jax.train.training.TrainState` and a JSON
item with the step and the run's config. On restore:

* a checkpoint made with a different network, memory or image shape is refused with the
  list of config keys that differ (nothing is changed on disk);
* a checkpoint that cannot be read is reported, moved aside to ``STEP.corrupt`` (never
  deleted) and the next older one is tried, so the last good checkpoint is used and kept.
"""

import json
import os
import time
from typing import Any, Optional

import orbax.checkpoint as ocp

from mgan_jax.gans import improved, madgan, semisup

# Config sections whose change makes a checkpoint unusable (different parameters or memory).
# What reading a damaged checkpoint raises (orbax, TensorStore, JSON, msgpack): such a
# checkpoint is moved aside. Anything else (a bug, MemoryError, ...) propagates and moves
# nothing.
UNREADABLE = (OSError, ValueError, KeyError, TypeError, RuntimeError, EOFError)
STRUCTURAL = ('model', 'memory', 'data.shape', 'improved.minibatch_kernels',
              'improved.minibatch_kernel_dim', 'improved.virtual_batch_norm',
              'semisup.num_classes', 'madgan.num_generators', 'madgan.share_layers')


# Memory config keys added after runs were saved, with the value that reproduces the old code.
MEMORY_KEYS_ADDED = {'write_k': 0, 'hist_step': 'count'}
MODEL_KEYS_ADDED = {'encoder_hidden_norm': 'bn'}


class CheckpointMismatchError(RuntimeError):
  """The checkpoint was made by a config with other networks, memory or image shape."""


def _flatten(tree, prefix=''):
  out = {}
  if isinstance(tree, dict):
    for k, v in tree.items():
      out.update(_flatten(v, f'{prefix}{k}.'))
  else:
    out[prefix[:-1]] = tree
  return out


def is_structural(key: str) -> bool:
  """Whether a flattened config key (``memory.num_slots``) is in a STRUCTURAL section."""
  return any(key == s or key.startswith(s + '.') for s in STRUCTURAL)


def config_differences(saved: dict, current: dict) -> list[tuple[str, Any, Any]]:
  """``(key, saved value, current value)`` for every leaf key that differs."""
  a, b = _flatten(saved), _flatten(current)
  return [(k, a.get(k, '<absent>'), b.get(k, '<absent>')) for k in sorted(set(a) | set(b))
          if a.get(k, '<absent>') != b.get(k, '<absent>')]


def _with_defaults(config: dict) -> dict:
  """A saved config with the sections and keys added since, at the values that mean what
  the older code did (runs saved before ``config.improved`` existed trained with every
  technique off; before ``memory.write_k``, the write's S_y had ``choose_k`` slots; before
  ``model.encoder_hidden_norm``, the conv encoder's hidden layers had batch norm)."""
  return {**config, 'memory': {**MEMORY_KEYS_ADDED, **config.get('memory', {})},
          'model': {**MODEL_KEYS_ADDED, **config.get('model', {})},
          'improved': {**improved.defaults(), **config.get('improved', {})},
          'semisup': {**semisup.defaults(), **config.get('semisup', {})},
          'madgan': {**madgan.defaults(), **config.get('madgan', {})}}


def config_as_dict(config) -> dict:
  return json.loads(config.to_json_best_effort())


class Checkpointer:
  """Saves every call to :meth:`save`, keeps the newest ``keep``; restores the newest good."""

  def __init__(self, directory: str, keep: int = 3, read_only: bool = False):
    """``read_only``: for commands that read a run (sample, evaluate): an unreadable
    checkpoint is reported and skipped, never moved, and nothing is created or deleted."""
    self.directory = os.path.abspath(directory)
    self._keep = keep
    self._read_only = read_only
    self._open()

  def _open(self):
    options = ocp.CheckpointManagerOptions(max_to_keep=self._keep, create=not self._read_only,
                                           read_only=self._read_only)
    self.manager = ocp.CheckpointManager(self.directory, options=options,
                                         item_names=('state', 'meta'))

  def steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def save(self, step: int, state, config) -> None:
    meta = {'step': int(step), 'config': config_as_dict(config), 'time': time.time()}
    self.manager.save(int(step), args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)))

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def _move_aside(self, step: int, error: Exception) -> None:
    src = os.path.join(self.directory, str(step))
    if self._read_only:
      print(f'WARNING: checkpoint {src} could not be read ({type(error).__name__}); left it '
            'as it is and trying an older one.', flush=True)
      return
    dst = f'{src}.corrupt'
    suffix = 0
    while os.path.exists(dst):
      suffix += 1
      dst = f'{src}.corrupt{suffix}'
    log = os.path.join(os.path.dirname(self.directory), 'unreadable_checkpoints.log')
    with open(log, 'a') as f:  # the library's details, out of the user's terminal
      f.write(f'{time.ctime()}: {src} -> {dst}\n{type(error).__name__}: {error}\n\n')
    print(f'WARNING: checkpoint {src} could not be read ({type(error).__name__}; details in '
          f'{log}); moved it to {dst} and trying an older one.', flush=True)
    if os.path.exists(src):
      os.rename(src, dst)
    self.manager.close()
    self._open()

  def restore_latest(self, target_state, config,
                     step: Optional[int] = None) -> Optional[tuple[Any, int, list]]:
    """The newest readable checkpoint as ``(state, step, config differences)``, or None.

    With ``step``, that checkpoint only (None if it is absent or unreadable).

    Raises CheckpointMismatchError if the newest readable checkpoint was made by a config
    with another model, memory or image shape.
    """
    current = config_as_dict(config)
    wanted = step
    for step in sorted(self.manager.all_steps(), reverse=True):
      if wanted is not None and step != wanted:
        continue
      try:
        meta = self.manager.restore(step, args=ocp.args.Composite(
            meta=ocp.args.JsonRestore()))['meta']
      except UNREADABLE as e:  # an unreadable checkpoint: keep it aside, try an older one
        self._move_aside(step, e)
        continue
      diffs = config_differences(_with_defaults(meta.get('config', {})),
                                 _with_defaults(current))
      structural = [d for d in diffs if is_structural(d[0])]
      if structural:
        lines = '\n'.join(f'  {k}: {a!r} in the checkpoint, {b!r} now'
                          for k, a, b in structural)
        raise CheckpointMismatchError(
            f'The checkpoint at step {step} in {self.directory} was made with another '
            f'model, memory or image shape:\n{lines}\nUse a new --workdir, or the config '
            f'the checkpoint was made with. Nothing was changed on disk.')
      try:
        restored = self._restore_state(step, target_state)
      except (ValueError, KeyError, TypeError) as e:
        if 'shape' in str(e).lower() or 'structure' in str(e).lower():
          raise CheckpointMismatchError(
              f'The checkpoint at step {step} in {self.directory} does not match the state '
              f'this config builds ({type(e).__name__}: {str(e).splitlines()[0][:300]}). '
              'Nothing was changed on disk.') from None
        self._move_aside(step, e)
        continue
      except UNREADABLE as e:  # unreadable data files
        self._move_aside(step, e)
        continue
      return restored, step, diffs
    return None

  def _restore_state(self, step: int, target_state):
    def restore(target):
      return self.manager.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(target)))['state']
    try:
      return restore(target_state)
    except ValueError as e:
      # A state saved before TrainState had its ``extras`` field (no technique keeps state
      # in such a run): restore the older structure.
      older = getattr(target_state, 'without_extras', None)
      if older is None or target_state.extras is not None or 'structure' not in str(e):
        raise
      return restore(older()).with_extras(None)

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()
