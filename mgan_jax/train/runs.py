"""Reading a training run back: its config and a checkpointed state, on one device.

``load_run(workdir, step)`` is what ``experiments.sample``, ``experiments.evaluate`` and the
mode benchmark use, so that they all read runs the same way: a run trained with its memory
split over devices (``memory_sharded=True``) loads as the whole memory on one device, and a
read never changes the run's files.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Optional

import jax
import ml_collections

from mgan_jax.train import checkpoints, training


class RunNotFoundError(RuntimeError):
  """The directory is not a run, or has no readable checkpoint (the message says which)."""


@dataclasses.dataclass
class Run:
  workdir: str
  config: ml_collections.ConfigDict   # as trained
  setup: training.Setup               # one device, whole memory
  state: training.TrainState          # one copy, on one device
  step: int


def single_device_config(config) -> ml_collections.ConfigDict:
  """The run's config for one device: the memory whole, not split over devices."""
  config = config.copy_and_resolve_references()
  with config.unlocked():
    config.memory_sharded = False
    config.num_devices = 1
  return config


def read_config(workdir: str) -> ml_collections.ConfigDict:
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise RunNotFoundError(f'{path} does not exist: is {workdir!r} a training run directory?')
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


def available_steps(workdir: str) -> list[int]:
  """The checkpoint steps in ``workdir/checkpoints`` (without reading them)."""
  directory = os.path.join(workdir, 'checkpoints')
  if not os.path.isdir(directory):
    return []
  return sorted(int(d) for d in os.listdir(directory) if d.isdigit())


def restore(config, workdir: str, step: Optional[int] = None) -> Optional[tuple[Any, int]]:
  """The newest good checkpoint of a run (or the one at ``step``) as ``(state, step)`` on
  one device, or None. An unreadable checkpoint is reported and skipped, never moved."""
  config = single_device_config(config)
  setup = training.make_setup(config, 1)
  target = training.abstract_state(setup)
  ckpt = checkpoints.Checkpointer(os.path.join(workdir, 'checkpoints'),
                                  keep=config.keep_checkpoints, read_only=True)
  try:
    restored = ckpt.restore_latest(target, config, step)
  finally:
    ckpt.close()
  return None if restored is None else (jax.device_put(restored[0]), restored[1])


def load_run(workdir: str, step: Optional[int] = None) -> Run:
  """The run in ``workdir`` at its newest good checkpoint (or ``step``)."""
  config = read_config(workdir)
  restored = restore(config, workdir, step)
  if restored is None:
    which = f'step {step}' if step is not None else 'any step'
    raise RunNotFoundError(f'no readable checkpoint for {which} in {workdir}/checkpoints '
                           f'(present: {available_steps(workdir) or "none"})')
  state, found = restored
  return Run(workdir=workdir, config=config,
             setup=training.make_setup(single_device_config(config), 1), state=state,
             step=found)
