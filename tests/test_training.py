"""The train step, the trainer and its failure behaviour, on tiny configs and real data."""

import functools
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import configs_lib
from experiments.configs import fashion
from mgan_jax.train import checkpoints, runs
from mgan_jax import data as data_lib
from mgan_jax import memory as mm
from mgan_jax.train import trainer
from mgan_jax.train import training
from tests import tiny
from tests.conftest import SUBPROCESS_XLA_FLAGS

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY_FASHION = str(ROOT / 'tests' / 'configs' / 'tiny_fashion.py')


def tiny_fashion(**overrides):
  return tiny.override(tiny.shrink(fashion.get_config()), overrides)


@functools.lru_cache(maxsize=1)
def fashion_images():
  return data_lib.load_images(fashion.get_config().data)


def run_cli(*args, module='experiments.train', timeout=300):
  env = dict(os.environ, PYTHONPATH=str(ROOT))
  env['XLA_FLAGS'] = SUBPROCESS_XLA_FLAGS  # one device: they stand for a user's plain run
  return subprocess.run([sys.executable, '-m', module, *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=timeout)


# --------------------------------------------------------------------------------------
# The step: pmap over 8 devices == jit on one device, for the same global batch.


def test_pmap_step_equals_single_device_step_and_replicas_stay_identical():
  # Random unit keys: at the reference init (K = 0) D's output saturates, the gradients are
  # ~0 and Adam's g / (|g| + eps) blows float noise up to the learning rate, so two exact
  # implementations differ by noise there. Here gradients are real and the states agree to
  # float rounding.
  devices = tiny.PMAP_DEVICES
  # kappa = 1 and jsd: the states are compared to float rounding, which the fashion
  # default's kappa = 10 and non-saturating loss amplify (one G weight in 6,272 moved by
  # 1.7e-4 after 3 steps, Adam scaling a near-zero gradient's noise up to the learning rate).
  # The default write rule (proposals) is the one tested.
  config = tiny_fashion(batch_size=16, loss='jsd',
                        **{'memory.key_init': 'random', 'memory.kappa': 1.0})
  images = fashion_images()[:16 * 3]
  setup1 = training.make_setup(config, 1)
  setup8 = training.make_setup(config, devices)
  state = training.init_state(setup1, jax.random.PRNGKey(0))
  step1 = training.make_train_step(setup1, 1)
  step8 = training.make_train_step(setup8, devices)
  rng = jax.random.PRNGKey(1)

  single = jax.tree.map(jnp.array, state)
  multi = trainer.replicate(state, devices)
  for t in range(3):
    batch = images[16 * t:16 * (t + 1)]
    single, m1 = step1(single, batch, rng)
    multi, m8 = step8(multi, batch.reshape(devices, -1, 28, 28, 1), rng)

    for leaf in jax.tree.leaves(multi.memory):  # replicas hold bit-identical memories
      leaf = np.asarray(leaf)
      for d in range(1, devices):
        np.testing.assert_array_equal(leaf[d], leaf[0])
    first = trainer.unreplicate(multi)
    np.testing.assert_array_equal(first.memory.values, single.memory.values)
    np.testing.assert_array_equal(first.memory.ages, single.memory.ages)
    np.testing.assert_allclose(first.memory.hist, single.memory.hist, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(first.memory.keys, single.memory.keys, rtol=1e-4, atol=5e-5)
    pairs = zip(jax.tree_util.tree_flatten_with_path(first.replace(memory=None))[0],
                jax.tree.leaves(single.replace(memory=None)))
    for (path, a), b in pairs:  # parameters, batch statistics, both optimiser states
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5, err_msg=jax.tree_util.keystr(path))
    np.testing.assert_allclose(m8['d_loss'][0], m1['d_loss'], rtol=1e-5)
    np.testing.assert_allclose(m8['g_loss'][0], m1['g_loss'], rtol=1e-4, atol=1e-7)


def test_unreplicate_copies_the_first_devices_entry_to_the_host():
  """A host copy of one device's buffer, not a program over the devices (such a program
  deadlocked the two-process run against orbax's barrier; WORKSPACE.md, "Several hosts")."""
  n = jax.local_device_count()
  x = np.arange(3 * n, dtype=np.float32).reshape(n, 3)
  out = jax.pmap(lambda v: v * 2.0)(x)
  got = trainer.unreplicate({'pmapped': out, 'host': x})
  assert isinstance(got['pmapped'], np.ndarray) and got['pmapped'].shape == (3,)
  np.testing.assert_array_equal(got['pmapped'], [0.0, 2.0, 4.0])
  np.testing.assert_array_equal(got['host'], x[0])


def test_sharded_memory_step_equals_the_replicated_memory_step():
  devices = tiny.PMAP_DEVICES
  # As above; with the posterior MI term, whose softmax over the slots is split too.
  base = dict(batch_size=16, loss='jsd', mi_form='posterior', mi_weight=0.5,
              **{'memory.key_init': 'random', 'memory.kappa': 1.0})
  images = fashion_images()[:16 * 3]
  rep_setup = training.make_setup(tiny_fashion(**base), devices)
  sh_setup = training.make_setup(tiny_fashion(memory_sharded=True, **base), devices)
  assert sh_setup.memory_sharded and not rep_setup.memory_sharded
  state = training.init_state(rep_setup, jax.random.PRNGKey(0))
  rep_step = training.make_train_step(rep_setup, devices)
  sh_step = training.make_train_step(sh_setup, devices)
  rep = trainer.replicate(state, devices)
  sh = trainer.replicate(state.replace(memory=None), devices).replace(
      memory=mm.shard(state.memory, devices))
  rng = jax.random.PRNGKey(1)
  for t in range(3):
    batch = images[16 * t:16 * (t + 1)].reshape(devices, -1, 28, 28, 1)
    rep, m_rep = rep_step(rep, batch, rng)
    sh, m_sh = sh_step(sh, batch, rng)
    whole = mm.unshard(sh.memory)
    first = trainer.unreplicate(rep.memory)
    np.testing.assert_array_equal(whole.values, first.values)
    np.testing.assert_array_equal(whole.ages, first.ages)
    np.testing.assert_allclose(whole.hist, first.hist, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(whole.keys, first.keys, rtol=1e-4, atol=5e-5)
    for a, b in zip(jax.tree.leaves(trainer.unreplicate(sh.replace(memory=None))),
                    jax.tree.leaves(trainer.unreplicate(rep.replace(memory=None)))):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5)
    for key in ('d_loss', 'g_loss', 'penalty_g', 'memory/effective_real_slots',
                'memory/hit_rate'):
      np.testing.assert_allclose(m_sh[key][0], m_rep[key][0], rtol=1e-4, err_msg=key)


def test_sharded_memory_run_checkpoints_the_whole_memory_and_resumes(tmp_path):
  config = tiny_fashion(memory_sharded=True, num_devices=tiny.PMAP_DEVICES, batch_size=16,
                        num_steps=2)
  trainer.train_and_evaluate(config, str(tmp_path))
  config.num_steps = 3
  trainer.train_and_evaluate(config, str(tmp_path))
  state, step = trainer.final_state(config, str(tmp_path))
  assert step == 3 and state.memory.keys.shape == (64, 16)
  # The read commands (sample, evaluate: runs.load_run) load a sharded run as the whole
  # memory on one device.
  run = runs.load_run(str(tmp_path))
  assert run.step == 3 and not run.setup.memory_sharded
  for name in ('keys', 'values', 'ages', 'hist'):
    np.testing.assert_array_equal(getattr(run.state.memory, name),
                                  getattr(state.memory, name))
  with pytest.raises(trainer.ConfigError, match='needs 2 or more local devices'):
    trainer.Trainer(tiny_fashion(memory_sharded=True), str(tmp_path / 'x'))


def test_step_changes_state_and_reports_memory_diagnostics():
  config = tiny_fashion()
  setup = training.make_setup(config, 1)
  state = training.init_state(setup, jax.random.PRNGKey(0))
  before = jax.device_get(state)
  step = training.make_train_step(setup, 1)
  new, metrics = step(state, fashion_images()[:8], jax.random.PRNGKey(1))
  assert int(new.step) == 1
  assert not np.allclose(jax.tree.leaves(new.d_params)[0], jax.tree.leaves(before.d_params)[0])
  assert not np.allclose(jax.tree.leaves(new.g_params)[0], jax.tree.leaves(before.g_params)[0])
  assert int(np.sum(np.asarray(new.memory.ages) == 0)) > 0  # the memory was written
  for key in ('d_loss', 'g_loss', 'd_real', 'd_fake', 'memory/real_fraction',
              'memory/hit_rate', 'memory/effective_real_slots', 'memory/distinct_real_keys',
              'memory/prior_gap', 'memory/split_threshold'):
    assert np.isfinite(metrics[key]), key
  for key in ('memory/real_hit_rate', 'memory/fake_hit_rate',
              'memory/fake_reads_without_real_slot', 'memory/g_reads_without_real_slot'):
    assert 0.0 <= float(metrics[key]) <= 1.0, key
  total = sum(int(metrics[f'memory/{k}']) for k in
              ('real_hits', 'real_misses', 'fake_hits', 'fake_misses'))
  assert total == 2 * 8  # one write of the step's real and fake queries


def test_memory_write_in_g_step_adds_the_reference_write():
  images = fashion_images()[:8]
  out = {}
  for flag in (False, True):
    config = tiny_fashion(memory_write_in_g_step=flag)
    setup = training.make_setup(config, 1)
    state = training.init_state(setup, jax.random.PRNGKey(0))
    new, _ = training.make_train_step(setup, 1)(state, images, jax.random.PRNGKey(1))
    out[flag] = new.memory
  # Ages advance once per write: one write without the flag, two with it.
  assert int(np.max(out[False].ages)) == 1 and int(np.max(out[True].ages)) == 2


def test_dcgan_baseline_step_runs_without_memory():
  config = tiny_fashion(**{'model.kind': 'dcgan'})
  setup = training.make_setup(config, 1)
  state = training.init_state(setup, jax.random.PRNGKey(0))
  assert state.memory is None
  new, metrics = training.make_train_step(setup, 1)(state, fashion_images()[:8],
                                                    jax.random.PRNGKey(1))
  assert np.isfinite(metrics['d_loss']) and 'memory/real_fraction' not in metrics


# --------------------------------------------------------------------------------------
# Every config builds and trains 2 steps (tiny widths; mock data where it is tfds).


def _folder_of_images(path, n=12):
  from PIL import Image
  rng = np.random.default_rng(0)
  path.mkdir()
  for i in range(n):
    Image.fromarray(rng.integers(0, 255, (80, 70, 3), np.uint8)).save(path / f'{i}.png')
  return str(path)


@pytest.mark.parametrize('name', configs_lib.config_names())
def test_every_config_trains_two_steps(name, tmp_path):
  import importlib
  import tensorflow_datasets as tfds
  config = importlib.import_module(f'experiments.configs.{name}').get_config()
  assert config.num_steps > 0 and name in configs_lib.config_names()
  tiny.shrink(config, batch=8, num_steps=2)
  config.data.cache_dir = str(tmp_path / 'cache')
  if config.data.source == 'folder':
    config.data.data_dir = _folder_of_images(tmp_path / 'images')
  # Semi-supervised configs draw a labelled example of each class: enough mock examples
  # that every class has one.
  with tfds.testing.mock_data(num_examples=200 if config.model.kind == 'semisup' else 16):
    metrics = trainer.train_and_evaluate(config, str(tmp_path / 'run'))
  assert np.isfinite(metrics['d_loss']) and np.isfinite(metrics['g_loss'])
  run = tmp_path / 'run'
  assert (run / 'checkpoints' / '2').is_dir()
  assert list(run.glob('events.out.tfevents.*'))
  assert (run / 'samples' / 'step_0000002.png').exists()
  if config.model.kind == 'memory' and config.data.source != 'mixture':
    assert (run / 'samples' / 'slots_0000002.png').exists()  # 2D data: a scatter plot only
  if config.model.kind == 'madgan' and config.data.source != 'mixture':
    assert (run / 'samples' / 'generators_0000002.png').exists()  # one row per generator


# --------------------------------------------------------------------------------------
# Resume, in new processes, is exact.


def _checkpoint_state(workdir, step):
  config = tiny.shrink(fashion.get_config(), batch=8, num_steps=4)
  setup = training.make_setup(config, 1)
  target = training.init_state(setup, jax.random.PRNGKey(config.seed))
  ckpt = checkpoints.Checkpointer(os.path.join(workdir, 'checkpoints'))
  try:
    state, got_step, _ = ckpt.restore_latest(target, config)
  finally:
    ckpt.close()
  assert got_step == step
  return state


def _train_until_signalled(workdir, sig):
  """Starts the train command, sends ``sig`` once it trains; returns the step it stopped at."""
  env = dict(os.environ, PYTHONPATH=str(ROOT), XLA_FLAGS=SUBPROCESS_XLA_FLAGS)
  proc = subprocess.Popen(
      [sys.executable, '-m', 'experiments.train', f'--config={TINY_FASHION}',
       f'--workdir={workdir}', '--config.num_steps=100000', '--config.checkpoint_every=100000'],
      cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  for line in proc.stdout:  # wait until it trains
    if line.startswith('step 3/'):
      break
  proc.send_signal(sig)
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 128 + sig, err[-3000:]
  assert 'Traceback' not in err
  stop = int(err.split('stopped at step ')[1].split(';')[0])
  assert 'checkpoint saved' in err and 'rerun the same command to resume' in err
  assert [int(d) for d in os.listdir(workdir / 'checkpoints') if d.isdigit()] == [stop]
  return stop


def test_sigterm_stops_after_the_step_with_a_checkpoint(tmp_path):
  _train_until_signalled(tmp_path, signal.SIGTERM)  # a preemptible VM's notice


def test_sigint_saves_a_checkpoint_and_the_rerun_resumes_bit_exactly(tmp_path):
  stopped, straight = tmp_path / 'stopped', tmp_path / 'straight'
  stop = _train_until_signalled(stopped, signal.SIGINT)
  end = stop + 2
  r = run_cli(f'--config={TINY_FASHION}', f'--workdir={stopped}', f'--config.num_steps={end}')
  assert r.returncode == 0 and f'Resuming from step {stop}' in r.stdout, r.stderr[-3000:]
  r = run_cli(f'--config={TINY_FASHION}', f'--workdir={straight}', f'--config.num_steps={end}')
  assert r.returncode == 0 and 'No checkpoint in' in r.stdout, r.stderr[-3000:]
  # Resumed in a new process, the run equals a straight one bit for bit, memory included.
  a, b = _checkpoint_state(str(straight), end), _checkpoint_state(str(stopped), end)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(x, y)
  assert isinstance(a.memory, mm.Memory) and int(a.step) == end


def test_a_restart_from_zero_sets_the_old_events_aside(tmp_path):
  config = tiny_fashion(num_steps=2)
  trainer.train_and_evaluate(config, str(tmp_path))
  shutil.rmtree(tmp_path / 'checkpoints')  # an abandoned run: events but no checkpoint
  old = sorted(p.name for p in tmp_path.glob('events.out.tfevents.*'))
  trainer.train_and_evaluate(config, str(tmp_path))
  assert sorted(p.name for p in (tmp_path / 'events_before_restart').iterdir()) == old
  assert len(list(tmp_path.glob('events.out.tfevents.*'))) == 1


# --------------------------------------------------------------------------------------
# Failure behaviour.


def test_non_finite_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
  # An infinite generator learning rate: step 1's losses are computed before G's update
  # and are finite; G's parameters are then NaN, and so is every loss from step 2 on.
  config = tiny_fashion(**{'optim.g_learning_rate': float('inf')}, num_steps=6,
                        checkpoint_every=1)
  with pytest.raises(trainer.NonFiniteLossError) as e:
    trainer.train_and_evaluate(config, str(tmp_path))
  message = str(e.value)
  assert 'Non-finite loss at step 2' in message
  assert 'Last good checkpoint: step 1' in message
  assert sorted(os.listdir(tmp_path / 'checkpoints')) == ['1']


def test_mismatched_checkpoint_is_reported_and_left_alone(tmp_path):
  trainer.train_and_evaluate(tiny_fashion(), str(tmp_path))
  before = sorted(os.listdir(tmp_path / 'checkpoints'))
  with pytest.raises(checkpoints.CheckpointMismatchError) as e:
    trainer.train_and_evaluate(tiny_fashion(**{'memory.num_slots': 128}), str(tmp_path))
  assert 'memory.num_slots: 64 in the checkpoint, 128 now' in str(e.value)
  assert sorted(os.listdir(tmp_path / 'checkpoints')) == before


def test_structural_keys_are_whole_sections():
  assert checkpoints.is_structural('memory.num_slots')
  assert checkpoints.is_structural('data.shape')
  assert not checkpoints.is_structural('memory_sharded')
  assert not checkpoints.is_structural('data.shapes_seen')


def test_corrupt_checkpoint_is_moved_aside_and_the_last_good_one_used(tmp_path):
  config = tiny_fashion(num_steps=4, checkpoint_every=2)
  trainer.train_and_evaluate(config, str(tmp_path))
  ckdir = tmp_path / 'checkpoints'
  assert sorted(os.listdir(ckdir)) == ['2', '4']
  for f in (ckdir / '4' / 'state').rglob('*'):  # scramble every data file of step 4
    if f.is_file():
      f.write_bytes(b'not a checkpoint')
  # A command that reads the run reports the bad step, uses the previous one, moves nothing.
  r = run_cli(f'--workdir={tmp_path}', '--rows=2', '--cols=2', '--num=4',
              module='experiments.sample')
  assert r.returncode == 0, r.stderr[-3000:]
  assert 'for step 2' in r.stdout and 'could not be read' in r.stdout
  assert sorted(os.listdir(ckdir)) == ['2', '4']
  setup = training.make_setup(config, 1)
  target = training.init_state(setup, jax.random.PRNGKey(config.seed))
  ckpt = checkpoints.Checkpointer(str(ckdir))
  try:
    state, step, _ = ckpt.restore_latest(target, config)
  finally:
    ckpt.close()
  assert step == 2 and int(state.step) == 2
  assert sorted(os.listdir(ckdir)) == ['2', '4.corrupt']
  assert 'JSONDecodeError' in (tmp_path / 'unreadable_checkpoints.log').read_text()


def test_impossible_hyperparameters_are_refused_before_compiling(tmp_path):
  with pytest.raises(trainer.ConfigError, match='does not split over 8 devices'):
    trainer.Trainer(tiny_fashion(batch_size=12, num_devices=8), str(tmp_path))
  with pytest.raises(trainer.ConfigError, match='choose_k'):
    trainer.Trainer(tiny_fashion(**{'memory.choose_k': 65}), str(tmp_path))
  with pytest.raises(trainer.ConfigError, match='unknown loss'):
    trainer.Trainer(tiny_fashion(loss='wasserstein'), str(tmp_path))
  with pytest.raises(trainer.ConfigError, match='2 \\* batch_size'):
    trainer.Trainer(tiny_fashion(batch_size=40), str(tmp_path))
  assert not os.listdir(tmp_path)


BAD_VALUES = [  # (override, what the message names); refused before the workdir is made
    ({'num_steps': 0}, 'num_steps must be at least 1'),
    ({'num_steps': -5}, 'num_steps must be at least 1'),
    ({'optim.learning_rate': -1e-3}, 'optim.learning_rate must be > 0'),
    ({'optim.g_learning_rate': 0.0}, 'optim.g_learning_rate must be > 0'),
    ({'optim.b1': 1.0}, r'optim.b1 must be in \[0, 1\)'),
    ({'checkpoint_every': 0}, 'checkpoint_every must be at least 1'),
    ({'batch_size': 0}, 'batch_size must be at least 1'),
    ({'log_every': 0}, 'log_every must be at least 1'),
    ({'sample_every': 0}, 'sample_every must be at least 1'),
    ({'eval_every': -1}, 'eval_every must be 0 or more'),
    ({'mi_weight': -1.0}, 'mi_weight must be 0 or more'),
    ({'mi_form': 'l1'}, 'mi_form must be one of squared, cosine, posterior'),
    ({'mi_networks': 'd'}, 'mi_networks must be one of both, generator'),
    ({'model.encoder_hidden_norm': 'gn'}, 'model.encoder_hidden_norm must be one of bn, ln, wn'),
    ({'model.encoder_hidden_norm': 'ln', 'model.encoder': 'mlp'},
     'applies to the conv encoder only'),
    ({'memory.write_rule': 'authors'}, 'write_rule must be one of'),
    ({'memory.write_rule': 'proposals', 'memory.em_steps': 2}, 'takes one EM step'),
    ({'memory.kappa_write': -2.0}, 'kappa_write must be > 0'),
    ({'data.image_range': 'pm1'}, 'image_range must be one of'),
    ({'eval_protocol': 'fid'}, 'eval_protocol must be one of'),
]


@pytest.mark.parametrize('overrides,message', BAD_VALUES)
def test_bad_values_are_refused_in_one_line_and_leave_no_workdir(tmp_path, overrides, message):
  workdir = tmp_path / 'run'
  with pytest.raises(trainer.ConfigError, match=message):
    trainer.Trainer(tiny_fashion(**overrides), str(workdir))
  assert not workdir.exists()


def test_bad_command_lines_are_one_line_each_and_touch_nothing(tmp_path):
  workdir = tmp_path / 'run'
  cases = [  # (arguments, exit code, a fragment of the message)
      (['--config=fashion', '--config.memory.choosek=10'], 2, 'Did you mean "choose_k"'),
      (['--config=fashion', '--config.batch_size=abc'], 2, "invalid literal for int()"),
      (['--config=fashion', '--work_dir=x'], 2, "Unknown command line flag 'work_dir'"),
      (['--config=README.md'], 2, 'could not be loaded as a config'),
      (['--config=fashon'], 2, 'Unknown config'),
      ([f'--config={TINY_FASHION}', '--config.num_steps=0'], 1, 'num_steps must be at least 1'),
  ]
  for args, code, fragment in cases:
    r = run_cli(*args, f'--workdir={workdir}')
    assert r.returncode == code, (args, r.stderr[-2000:])
    assert fragment in r.stderr and 'Traceback' not in r.stderr, (args, r.stderr[-2000:])
    assert len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
    assert not workdir.exists(), args
  for target in ('/proc/x', str(ROOT / 'README.md'), str(ROOT / 'README.md' / 'sub')):
    with pytest.raises(trainer.ConfigError, match='not a directory this user can write in'):
      trainer.Trainer(tiny_fashion(), target)


def test_entry_point_errors_are_messages_not_tracebacks(tmp_path):
  r = run_cli('--config=fashon', f'--workdir={tmp_path}')
  assert r.returncode == 2
  assert 'Unknown config' in r.stderr and 'fashion, fashion_dcgan' in r.stderr
  assert 'Traceback' not in r.stderr

  r = run_cli(f'--config={TINY_FASHION}', f'--workdir={tmp_path}',
              f'--config.data.data_dir={tmp_path}/nowhere')
  assert r.returncode == 1 and 'Traceback' not in r.stderr
  assert 'apt-get install dataset-fashion-mnist' in r.stderr

  r = run_cli('--config=mnist', f'--workdir={tmp_path}', f'--config.data.data_dir={tmp_path}')
  assert r.returncode == 1 and 'Traceback' not in r.stderr
  assert 'tfds build mnist --file_format=array_record' in r.stderr

  r = run_cli(f'--config={TINY_FASHION}', f'--workdir={tmp_path}', '--config.memory.num_slot=3')
  assert r.returncode != 0 and 'num_slot' in r.stderr  # locked config: typos fail


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
  """One tiny fashion run (2 steps, checkpoint at 2) for the commands that read runs; each
  writes into its own subfolder of it."""
  workdir = tmp_path_factory.mktemp('tiny_run')
  trainer.train_and_evaluate(tiny_fashion(), str(workdir))
  return workdir


@pytest.mark.xdist_group('tiny_run')  # one worker builds the module's run
def test_sample_command_writes_grids_from_a_checkpoint(tiny_run):
  r = run_cli(f'--workdir={tiny_run}', '--rows=2', '--cols=3', '--num=6',
              module='experiments.sample')
  assert r.returncode == 0, r.stderr[-3000:]
  out = tiny_run / 'final_samples'
  for name in ('samples.png', 'slots.png', 'slot_hist.png', 'samples.npy', 'memory.json'):
    assert (out / name).exists(), name
  assert np.load(out / 'samples.npy').shape == (6, 28, 28, 1)
  report = json.loads((out / 'memory.json').read_text())
  assert len(report['slots_in_rows']) == 2
  assert report['rows_ranked_by'].startswith('picked first by the most of')  # fashion's test
  assert -1.0 <= report['top_real_key_cosine_min'] <= report['top_real_key_cosine_mean'] <= 1.0
  assert report['num_real_slots'] > 0 and report['mean_hist'] > 0
  assert len(report['real_share_by_slot_block']) == len(report['mean_age_by_slot_block']) == 8
  assert 0 <= report['written_last'] <= 1


@pytest.mark.xdist_group('tiny_run')  # one worker builds the module's run
def test_evaluate_command_writes_scores_with_their_protocol(tiny_run):
  r = run_cli(f'--workdir={tiny_run}', '--num_samples=60', '--reference_size=2000',
              module='experiments.evaluate')
  assert r.returncode == 0, r.stderr[-3000:]
  out = tiny_run / 'eval_step_2'
  for name in ('samples.png', 'slots.png', 'slot_histogram.png'):
    assert (out / name).exists(), name
  result = json.loads((out / 'eval.json').read_text())
  for key in ('fid', 'kid', 'kid_std', 'precision', 'recall', 'density', 'coverage',
              'classifier_score', 'classifier_score_test_set'):
    assert np.isfinite(result['scores'][key]), key
  assert result['scores']['classifier_score_test_set'] > 5  # a real classifier on real data
  protocol = result['protocol']
  assert protocol['num_generated'] == 60 and protocol['reference_size'] == 2000
  assert protocol['checkpoint_step'] == 2 and 'test accuracy 0.92' in protocol['feature_extractor']


@pytest.mark.xdist_group('tiny_run')  # one worker builds the module's run
def test_evaluate_command_names_missing_steps(tiny_run):
  r = run_cli(f'--workdir={tiny_run}', '--step=5', module='experiments.evaluate')
  assert r.returncode == 1 and 'Traceback' not in r.stderr
  assert 'no readable checkpoint for step 5' in r.stderr and 'present: [2]' in r.stderr


def test_evaluation_during_training_is_logged(tmp_path):
  config = tiny_fashion(eval_every=1, eval_num_samples=40, eval_reference_size=1000, num_steps=2)
  trainer.train_and_evaluate(config, str(tmp_path))
  lines = [json.loads(x) for x in (tmp_path / 'eval_log.jsonl').read_text().splitlines()]
  assert [x['step'] for x in lines] == [1, 2]
  assert all(np.isfinite(x['scores']['fid']) for x in lines)
  assert lines[0]['protocol']['num_generated'] == 40
  assert lines[0]['protocol']['reference_size'] == 1000
  from tensorboard.backend.event_processing import event_accumulator
  events = event_accumulator.EventAccumulator(str(tmp_path))
  events.Reload()
  assert 'eval/fid' in events.Tags()['tensors'] + events.Tags()['scalars']


def test_evaluation_during_training_is_refused_without_a_protocol(tmp_path):
  with pytest.raises(trainer.ConfigError, match='no evaluation protocol'):
    trainer.Trainer(tiny_fashion(**{'eval_protocol': 'none', 'eval_every': 5}), str(tmp_path))
