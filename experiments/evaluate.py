r"""Evaluates a training run's checkpoint; writes eval.json (scores + protocol) and PNGs.

    python -m experiments.evaluate --workdir=runs/fashion_memory [--step=8000]
        [--num_samples=10000] [--out=DIR]

Fashion-MNIST: features from the project's classifier (mgan_jax/evaluate/assets/
fashion_classifier.msgpack, trained by experiments.train_classifier): FID, KID (100 subsets
of 1000), improved precision/recall (k=3), density/coverage (k=5) against the 10,000 test
images, the classifier score (10 splits) of the samples and of the test set, and the
structural-discontinuity score (share of off-manifold images on interpolation paths between
samples of different classes). 2D mixtures (ring8, grid25): modes covered, high-quality
share and reverse KL over 2,500 samples. CIFAR-10, CelebA and chairs: FID/KID/PR/density/
coverage on the pool3 features of the FID Inception-v3 and the Inception Score (10 splits),
with weights from a file you provide (mgan_jax/evaluate/inception.py says which; without it, a
message). MNIST (28x28): as Fashion-MNIST, with the project's MNIST classifier; Stacked
MNIST: modes of 1,000 and KL. Other data sets (affine MNIST) are refused with a message.

Writes to ``--out`` (default ``WORKDIR/eval_step_STEP``): ``eval.json`` and the pictures
``samples.png``, ``slots.png`` (MemoryGAN: one row per real slot that the most test images
pick first, the slots slot purity scores),
``slot_histogram.png`` (h of the 64 most used slots; blue real, red fake),
``interpolation.png`` (8 paths between samples of different classes, endpoints included) or,
for 2D mixtures, ``scatter.png`` (samples over the mode centres).
"""

import json
import os
import sys

from absl import app
from absl import flags
from absl import logging

_WORKDIR = flags.DEFINE_string('workdir', None, 'The run directory (has config.json).',
                               required=True)
_STEP = flags.DEFINE_integer('step', None, 'Checkpoint step (default: the newest good one).')
_NUM = flags.DEFINE_integer('num_samples', None,
                            'Generated samples to score (default 10,000; 2,500 for 2D).')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of the generator inputs.')
_OUT = flags.DEFINE_string('out', None, 'Output directory (default WORKDIR/eval_step_STEP).')
_INCEPTION = flags.DEFINE_string(
    'inception_weights', None, 'CIFAR-10/CelebA/chairs: the FID Inception-v3 weights file '
    '(pt_inception-2015-12-05-6726825d.pth or .npz; default $MGAN_INCEPTION_WEIGHTS or '
    '~/.cache/mgan_jax/).')
_REFERENCE = flags.DEFINE_integer('reference_size', None,
                                  'Use only the first N reference images (default: all).')


def main(argv):
  del argv
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.ERROR)  # orbax warns about read-only managers
  from mgan_jax.evaluate import evaluation
  from mgan_jax.train import runs, summary

  workdir = _WORKDIR.value
  # The checkpoint first: a missing step is named before any reference features are computed.
  try:
    run = runs.load_run(workdir, _STEP.value)
  except runs.RunNotFoundError as e:
    sys.exit(f'error: {e}')
  config, state, step = run.config, run.state, run.step
  try:
    evaluator = evaluation.Evaluator(config, _NUM.value, _SEED.value,
                                     reference_size=_REFERENCE.value,
                                     inception_weights=_INCEPTION.value)
  except (evaluation.EvaluationUnavailable, FileNotFoundError) as e:
    sys.exit(f'error: {e}')
  result = evaluator(state, step)
  out = _OUT.value or os.path.join(workdir, f'eval_step_{step}')
  os.makedirs(out, exist_ok=True)
  for name, picture in result.pictures.items():
    summary.write_png(os.path.join(out, f'{name}.png'), picture)
  payload = {'scores': result.scores, 'protocol': result.protocol}
  with open(os.path.join(out, 'eval.json'), 'w') as f:
    json.dump(payload, f, indent=2)
  print(json.dumps(payload, indent=2))
  print(f'wrote {out}/eval.json and {", ".join(sorted(result.pictures))} PNGs')


if __name__ == '__main__':
  app.run(main)
