"""Tiny versions of the experiment configs, for tests on a CPU."""

import ml_collections


def _small(value, width):
  if isinstance(value, (tuple, list)):
    return tuple(width for _ in value)
  return width


def shrink(config: ml_collections.ConfigDict, batch: int = 8, num_steps: int = 2):
  """Same structure (layer counts, image shape, data source), tiny widths and memory."""
  config.batch_size = batch
  config.num_steps = num_steps
  config.num_devices = 1
  config.log_every = 1
  config.sample_every = num_steps
  config.checkpoint_every = num_steps
  config.eval_every = 0                # evaluation has its own tests
  config.num_samples = 4
  config.slot_grid_rows = 2
  config.slot_grid_cols = 2
  config.model.key_dim = 16
  config.memory.key_dim = 16
  config.memory.num_slots = 64
  config.memory.choose_k = 4
  if config.memory.get('write_k', 0) > config.memory.num_slots:
    config.memory.write_k = 0          # the write's S_y as the read's (k = 4)
  if config.model.kind == 'semisup':
    config.semisup.labels_per_class = 1
    config.semisup.labelled_batch = batch
  enc = dict(config.model.encoder_kwargs)
  if 'features' in enc:
    enc['features'] = _small(enc['features'], 8)
  if 'hidden' in enc:
    enc['hidden'] = _small(enc['hidden'], 16)
  gen = dict(config.model.generator_kwargs)
  for key, width in (('base_features', 8), ('up_features', 8), ('features', 8),
                     ('hidden', 16)):
    if key in gen:
      gen[key] = _small(gen[key], width)
  config.model.encoder_kwargs = enc
  config.model.generator_kwargs = gen
  return config


def override(config: ml_collections.ConfigDict, overrides: dict) -> ml_collections.ConfigDict:
  """Sets dotted keys (``'memory.kappa': 1.0``) as ``--config.KEY=VALUE`` would."""
  for key, value in overrides.items():
    node = config
    *path, leaf = key.split('.')
    for p in path:
      node = node[p]
    node[leaf] = value
  return config


# Devices of the pmap tests of a whole train step. Two prove what a pmap step must get right
# (the gradients' and statistics' means, the memory write's all-gather, identical replicas);
# with 8 (conftest.py's device count) on a loaded 2-core machine the XLA:CPU replicas fell
# apart at their collectives and a worker deadlocked or aborted (2026-12-03, twice).
PMAP_DEVICES = 2

_SETUPS: dict = {}
_STEPS: dict = {}


def setup(config: ml_collections.ConfigDict, devices: int = 1):
  """``training.make_setup(config, devices)``, one per distinct config in a test process: a
  shared setup shares its compiled initialisation (``training.init_state``)."""
  from mgan_jax.train import training
  key = (config.to_json(), devices)
  if key not in _SETUPS:
    _SETUPS[key] = training.make_setup(config, devices)
  return _SETUPS[key]


def train_step(config: ml_collections.ConfigDict, devices: int = 1):
  """``training.make_train_step`` of :func:`setup`, traced and compiled once per config."""
  from mgan_jax.train import training
  key = (config.to_json(), devices)
  if key not in _STEPS:
    _STEPS[key] = training.make_train_step(setup(config, devices), devices)
  return _STEPS[key]
