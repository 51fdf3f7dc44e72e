"""Reading the scores that runs wrote, and comparing groups of runs seed by seed.

Two places hold a run's scores: ``WORKDIR/eval_log.jsonl`` (the evaluations during training,
one line per step) and ``WORKDIR/eval_step_STEP/eval.json`` (``experiments.evaluate``; the
step is the protocol's ``checkpoint_step``). A score at a step that both hold is taken from
``eval.json``, the later and larger evaluation.

The comparison pairs runs by their config's seed: for each step and metric, the difference
of group A minus group B on each seed both have, how many seeds each group wins, and an
exact two-sided sign test over those wins (ties dropped). With 5 seeds the smallest
possible p is 2 / 2^5 = 0.0625: five wins out of five is evidence, not proof, and the
table says so rather than hiding it behind a mean.

Plain Python and NumPy: no JAX, nothing is loaded but JSON files.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import math
import os
from typing import Optional

import numpy as np

# Which way is better, for the scores the evaluators write.
LOWER_IS_BETTER = frozenset({'fid', 'kid', 'kl', 'reverse_kl', 'test_error',
                             'interpolation_off_manifold'})
HIGHER_IS_BETTER = frozenset({'precision', 'recall', 'density', 'coverage',
                              'classifier_score', 'modes', 'high_quality',
                              'inception_score', 'slot_purity_at_least_0_7'})


class ResultsError(ValueError):
  """A request the runs on disk cannot answer (the message says what to do)."""


@dataclasses.dataclass(frozen=True)
class RunScores:
  workdir: str
  seed: int
  scores: dict  # step -> {metric: float}


def _numbers(scores: dict) -> dict:
  return {k: float(v) for k, v in scores.items()
          if isinstance(v, (int, float)) and not isinstance(v, bool)}


def read_scores(workdir: str) -> RunScores:
  """The scalar scores a run wrote, by step, and its seed (from ``config.json``)."""
  config_path = os.path.join(workdir, 'config.json')
  if not os.path.exists(config_path):
    raise ResultsError(f'{config_path} does not exist: is {workdir!r} a training run?')
  with open(config_path) as f:
    seed = int(json.load(f).get('seed', 0))
  scores: dict = {}
  log = os.path.join(workdir, 'eval_log.jsonl')
  if os.path.exists(log):
    with open(log) as f:
      for line in f:
        if line.strip():
          entry = json.loads(line)
          scores.setdefault(int(entry['step']), {}).update(_numbers(entry['scores']))
  for path in sorted(glob.glob(os.path.join(workdir, 'eval_step_*', 'eval.json'))):
    with open(path) as f:
      entry = json.load(f)
    step = entry.get('protocol', {}).get('checkpoint_step')
    if step is None:  # an older eval.json: the folder's name says the step
      step = os.path.basename(os.path.dirname(path))[len('eval_step_'):]
    scores.setdefault(int(step), {}).update(_numbers(entry['scores']))
  return RunScores(workdir=workdir, seed=seed, scores=scores)


def read_group(pattern: str) -> list[RunScores]:
  """Every run whose directory matches the glob ``pattern``, one per seed, by seed."""
  dirs = sorted(d for d in glob.glob(pattern) if os.path.isdir(d))
  if not dirs:
    raise ResultsError(f'no run directory matches {pattern!r}')
  runs = [read_scores(d) for d in dirs]
  by_seed: dict = {}
  for run in runs:
    if run.seed in by_seed:
      raise ResultsError(f'{by_seed[run.seed].workdir} and {run.workdir} both have seed '
                         f'{run.seed}: narrow the pattern {pattern!r}')
    by_seed[run.seed] = run
  return [by_seed[s] for s in sorted(by_seed)]


def better_direction(metric: str, override: Optional[str] = None) -> str:
  """'lower' or 'higher': ``override`` if given, else the known direction of ``metric``."""
  if override:
    if override not in ('lower', 'higher'):
      raise ResultsError(f'better must be lower or higher, not {override!r}')
    return override
  if metric in LOWER_IS_BETTER:
    return 'lower'
  if metric in HIGHER_IS_BETTER:
    return 'higher'
  raise ResultsError(f'which way is better for {metric!r}? pass --better=lower or '
                     '--better=higher')


def sign_test(wins: int, losses: int) -> float:
  """Exact two-sided sign test: P(a split at least this uneven | each side p = 1/2)."""
  n = wins + losses
  if n == 0:
    return 1.0
  tail = sum(math.comb(n, i) for i in range(min(wins, losses) + 1)) / 2 ** n
  return min(1.0, 2 * tail)


def mean_sd(values) -> tuple[float, float]:
  """Mean and sample standard deviation (n - 1; 0 for one value)."""
  x = np.asarray(values, np.float64)
  return float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else 0.0


@dataclasses.dataclass(frozen=True)
class Paired:
  step: int
  seeds: tuple            # the seeds both groups have at this step
  a: tuple                # group A's values on those seeds
  b: tuple
  wins_a: int             # seeds where A is better (by the metric's direction)
  wins_b: int
  ties: int
  p_value: float          # exact two-sided sign test over wins_a vs wins_b

  @property
  def differences(self) -> np.ndarray:
    return np.asarray(self.a) - np.asarray(self.b)


def steps_of(groups, metric: str) -> list[int]:
  return sorted({s for runs in groups for r in runs for s, v in r.scores.items()
                 if metric in v})


def paired(a: list[RunScores], b: list[RunScores], metric: str, step: int,
           better: str) -> Paired:
  """Group A against group B at one step, on the seeds both have a score for."""
  va = {r.seed: r.scores[step][metric] for r in a if metric in r.scores.get(step, {})}
  vb = {r.seed: r.scores[step][metric] for r in b if metric in r.scores.get(step, {})}
  seeds = tuple(sorted(set(va) & set(vb)))
  xa, xb = tuple(va[s] for s in seeds), tuple(vb[s] for s in seeds)
  sign = -1.0 if better == 'lower' else 1.0
  margin = [sign * (x - y) for x, y in zip(xa, xb)]
  wins_a = sum(m > 0 for m in margin)
  wins_b = sum(m < 0 for m in margin)
  return Paired(step=step, seeds=seeds, a=xa, b=xb, wins_a=wins_a, wins_b=wins_b,
                ties=len(seeds) - wins_a - wins_b, p_value=sign_test(wins_a, wins_b))
