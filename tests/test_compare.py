"""Comparing groups of runs from the scores they wrote (mgan_jax/evaluate/results.py and
experiments/compare.py), on run directories written here."""

import itertools
import json
import os
import statistics
import subprocess
import sys

import numpy as np
import pytest

from experiments import compare
from mgan_jax.evaluate import results
from tests.test_training import ROOT


def _run(root, name, seed, log=(), evals=()):
  """A run directory: config.json, eval_log.jsonl lines (step, scores), eval.json files."""
  d = root / name
  d.mkdir(parents=True)
  (d / 'config.json').write_text(json.dumps({'seed': seed, 'model': {'kind': 'memory'}}))
  with open(d / 'eval_log.jsonl', 'w') as f:
    for step, scores in log:
      f.write(json.dumps({'step': step, 'scores': scores, 'protocol': {}}) + '\n')
  for step, scores in evals:
    (d / f'eval_step_{step}').mkdir()
    (d / f'eval_step_{step}' / 'eval.json').write_text(
        json.dumps({'scores': scores, 'protocol': {'checkpoint_step': step}}))
  return str(d)


def test_scores_come_from_the_log_and_from_evaluate_which_wins_at_a_shared_step(tmp_path):
  d = _run(tmp_path, 'a_s3', 3,
           log=[(500, {'fid': 40.0, 'precision': 0.5, 'sample_class_histogram': [0.1, 0.9]}),
                (1000, {'fid': 30.0})],
           evals=[(1000, {'fid': 28.0, 'modes': 7}), (2000, {'fid': 20.0})])
  run = results.read_scores(d)
  assert run.seed == 3
  assert run.scores == {500: {'fid': 40.0, 'precision': 0.5},   # lists are not scores
                        1000: {'fid': 28.0, 'modes': 7.0}, 2000: {'fid': 20.0}}


def test_sign_test_equals_the_binomial_count_over_every_outcome():
  for n in range(0, 9):
    for wins in range(n + 1):
      losses = n - wins
      # Independent: enumerate all 2^n equally likely win/loss sequences.
      extreme = abs(wins - losses)
      outcomes = itertools.product((0, 1), repeat=n)
      count = sum(abs(2 * sum(seq) - n) >= extreme for seq in outcomes)
      assert results.sign_test(wins, losses) == pytest.approx(count / 2 ** n if n else 1.0)
  assert results.sign_test(5, 0) == pytest.approx(0.0625)


def test_pairs_by_seed_with_the_metric_direction(tmp_path):
  a = [_run(tmp_path, f'mem_s{s}', s, log=[(1000, {'fid': f, 'recall': r})])
       for s, f, r in ((0, 10.0, 0.2), (1, 12.0, 0.1), (2, 30.0, 0.3), (7, 1.0, 0.9))]
  b = [_run(tmp_path, f'dc_s{s}', s, log=[(1000, {'fid': f, 'recall': r})])
       for s, f, r in ((0, 20.0, 0.1), (1, 12.0, 0.0), (2, 25.0, 0.0))]
  del a, b
  ga = results.read_group(str(tmp_path / 'mem_s*'))
  gb = results.read_group(str(tmp_path / 'dc_s*'))
  assert [r.seed for r in ga] == [0, 1, 2, 7]
  fid = results.paired(ga, gb, 'fid', 1000, 'lower')
  assert fid.seeds == (0, 1, 2)                       # seed 7 has no partner
  assert (fid.wins_a, fid.wins_b, fid.ties) == (1, 1, 1)
  np.testing.assert_allclose(fid.differences, [-10.0, 0.0, 5.0])
  recall = results.paired(ga, gb, 'recall', 1000, 'higher')
  assert (recall.wins_a, recall.wins_b, recall.ties) == (3, 0, 0)
  assert recall.p_value == pytest.approx(0.25)
  mean, sd = results.mean_sd([10.0, 12.0, 30.0, 1.0])
  assert mean == pytest.approx(statistics.mean([10, 12, 30, 1]))
  assert sd == pytest.approx(statistics.stdev([10, 12, 30, 1]))
  assert results.mean_sd([4.0]) == (4.0, 0.0)


def test_the_table_and_its_refusals(tmp_path):
  for s, f in ((0, 10.0), (1, 14.0)):
    _run(tmp_path, f'mem_s{s}', s, log=[(500, {'fid': f + 30}), (1000, {'fid': f})])
  for s, f in ((0, 20.0), (1, 18.0)):
    _run(tmp_path, f'dc_s{s}', s, log=[(500, {'fid': f + 10}), (1000, {'fid': f})])
  groups = compare.parse_groups([f'mem={tmp_path}/mem_s*', f'dc={tmp_path}/dc_s*'])
  text, out = compare.compare(groups, 'fid')
  assert '| 1000 | 12 +- 2.828 (2) | 19 +- 1.414 (2) | -7 +- 4.243 | 2 / 0 | 0.5 |' in text
  assert '| mem | 1 | 44 | 14 |' in text
  assert out['steps'][500]['mem vs dc']['wins'] == [0, 2]
  with pytest.raises(results.ResultsError, match='pass --better=lower or --better=higher'):
    compare.compare(groups, 'distinct_keys')
  with pytest.raises(results.ResultsError, match="no run has a 'kid' score; the runs have: fid"):
    compare.compare(groups, 'kid', better='lower')
  with pytest.raises(results.ResultsError, match=r'no .fid. score at step\(s\) \[700\]'):
    compare.compare(groups, 'fid', steps=[700])
  with pytest.raises(results.ResultsError, match='write it as NAME=GLOB'):
    compare.parse_groups([f'{tmp_path}/mem_s*'])
  _run(tmp_path, 'mem_again', 1)
  with pytest.raises(results.ResultsError, match='both have seed 1'):
    results.read_group(str(tmp_path / 'mem_*'))


def test_the_command_prints_the_table_and_one_line_errors(tmp_path):
  for s in (0, 1):
    _run(tmp_path, f'mem_s{s}', s, evals=[(2000, {'modes': 20 + s, 'kl': 1.0})])
    _run(tmp_path, f'dc_s{s}', s, evals=[(2000, {'modes': 10, 'kl': 2.0})])
  env = dict(os.environ, PYTHONPATH=str(ROOT))
  cmd = [sys.executable, '-m', 'experiments.compare', f'--group=mem={tmp_path}/mem_s*',
         f'--group=dc={tmp_path}/dc_s*', '--metric=modes,kl', f'--json={tmp_path}/c.json']
  r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
  assert r.returncode == 0, r.stderr[-2000:]
  assert '### modes (higher is better)' in r.stdout and '### kl (lower is better)' in r.stdout
  assert '| 2000 | 20.5 +- 0.7071 (2) | 10 +- 0 (2) | +10.5 +- 0.7071 | 2 / 0 | 0.5 |' in r.stdout
  assert json.load(open(tmp_path / 'c.json'))['metrics'][1]['metric'] == 'kl'
  r = subprocess.run(cmd[:3] + [f'--group=dc={tmp_path}/nothing_*'], cwd=ROOT, env=env,
                     capture_output=True, text=True, timeout=120)
  assert r.returncode == 1
  assert r.stderr.strip().splitlines() == [
      f"error: no run directory matches '{tmp_path}/nothing_*'"]
