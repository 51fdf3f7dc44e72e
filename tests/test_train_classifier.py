"""experiments.train_classifier: a trial run validates on held-out training images, leaves the
test set alone and writes only where it is told; bad requests are refused with a message."""

import json
import os
import pathlib
import subprocess
import sys

from tests.conftest import SUBPROCESS_XLA_FLAGS

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run(*args):
  env = dict(os.environ, PYTHONPATH=str(ROOT), XLA_FLAGS=SUBPROCESS_XLA_FLAGS)
  return subprocess.run([sys.executable, '-m', 'experiments.train_classifier', *args],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_trial_run_validates_on_held_out_training_images(tmp_path):
  out = tmp_path / 'trial.msgpack'
  r = run('--dataset=fashion', '--epochs=1', '--train_size=320', '--validation=64',
          '--batch=64', f'--out={out}')
  assert r.returncode == 0, r.stderr[-3000:]
  info = json.loads(out.with_suffix('.json').read_text())
  assert 'test_accuracy' not in info and 'test accuracy' not in r.stdout
  assert info['validation_size'] == 64 and 0.0 <= info['validation_accuracy'] <= 1.0
  assert 'first 320 training images' in info['data']
  assert 'trained on the first 256, validated on the last 64' in info['data']
  assert info['augment'] == 'flip' and out.stat().st_size > 100_000


def test_bad_requests_are_refused_before_training(tmp_path):
  r = run('--dataset=fashion', '--validation=100')
  assert r.returncode == 1 and 'give --out' in r.stderr and 'Traceback' not in r.stderr
  r = run('--dataset=mnist', '--augment=flip', f'--out={tmp_path / "x.msgpack"}')
  assert r.returncode == 1 and 'must not be flipped' in r.stderr
