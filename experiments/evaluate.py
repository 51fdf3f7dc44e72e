r"""Evaluates a training run's newest good checkpoint; writes eval.json with its protocol.

    python -m experiments.evaluate --workdir=runs/fashion_memory [--num_samples=10000]

Fashion-MNIST (source debian or tfds fashion_mnist): features from the project's classifier
(mgan_jax/assets/fashion_classifier.msgpack, trained by experiments.train_classifier): FID,
KID (100 subsets of 1000), improved precision/recall (k=3), density/coverage (k=5) against
the 10,000 test images, and the classifier score (10 splits) of the samples and of the test
set. Other data sets need their feature networks (Inception-v3 for CIFAR-10/CelebA), which
are not in the project yet: they are refused with a message.
"""

import json
import os
import sys

from absl import app
from absl import flags
from absl import logging

_WORKDIR = flags.DEFINE_string('workdir', None, 'The run directory (has config.json).',
                               required=True)
_NUM = flags.DEFINE_integer('num_samples', 10000, 'Generated samples to score.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of the generator inputs.')


def main(argv):
  del argv
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  import jax
  import ml_collections
  import numpy as np
  from mgan_jax import classifier, data, metrics, trainer, training

  workdir = _WORKDIR.value
  with open(os.path.join(workdir, 'config.json')) as f:
    config = ml_collections.ConfigDict(json.load(f))
  name = config.data.name
  if name != 'fashion':
    print(f'error: evaluation of {name!r} runs needs a feature network that mgan_jax does not '
          'have yet (supported: fashion).', file=sys.stderr)
    sys.exit(1)
  restored = trainer.final_state(config, workdir)
  if restored is None:
    print(f'error: no readable checkpoint in {workdir}/checkpoints', file=sys.stderr)
    sys.exit(1)
  state, step = restored
  setup = training.make_setup(trainer_config_for_sampling(config), 1)
  generate = training.make_generate(setup, config.sample_bn_mode)

  images = []
  rng = jax.random.PRNGKey(_SEED.value)
  for i, start in enumerate(range(0, _NUM.value, 500)):
    g_in, _ = training.generator_inputs(setup, state.memory, jax.random.fold_in(rng, i),
                                        min(500, _NUM.value - start))
    images.append(np.asarray(generate(state, g_in)))
  fake = np.concatenate(images)
  if config.data.image_range == 'symmetric':
    fake = (fake + 1.0) / 2.0
  real, real_labels = data.load_debian_fashion('test')
  real = real.astype(np.float32) / 255.0

  params = classifier.load('fashion')
  apply = classifier.make_apply(params)
  real_probs, real_feats = classifier.batched(apply, real)
  fake_probs, fake_feats = classifier.batched(apply, fake)
  scores = metrics.all_feature_metrics(real_feats, fake_feats)
  scores['classifier_score'], scores['classifier_score_std'] = metrics.inception_score(
      fake_probs, 10)
  scores['classifier_score_test_set'], _ = metrics.inception_score(real_probs, 10)
  predicted = np.bincount(fake_probs.argmax(1), minlength=10) / len(fake_probs)
  scores['sample_class_histogram'] = predicted.round(4).tolist()
  with open(classifier.asset_path('fashion').replace('.msgpack', '.json')) as f:
    clf = json.load(f)
  result = {
      'scores': scores,
      'protocol': {
          'checkpoint_step': step, 'model': config.model.kind,
          'feature_extractor': f'mgan_jax fashion classifier (penultimate {classifier.FEATURE_DIM}'
                               f'-d ReLU features; test accuracy {clf["test_accuracy"]:.4f})',
          'num_generated': int(len(fake)), 'reference': 'Fashion-MNIST test split',
          'reference_size': int(len(real)), 'kid': '100 subsets of 1000, cubic kernel',
          'precision_recall_k': 3, 'density_coverage_k': 5, 'classifier_score_splits': 10,
          'generator_batch_norm': config.sample_bn_mode, 'generator_batch': 500,
          'seed': _SEED.value,
      },
  }
  path = os.path.join(workdir, 'eval.json')
  with open(path, 'w') as f:
    json.dump(result, f, indent=2)
  print(json.dumps(result, indent=2))
  print(f'wrote {path}')


def trainer_config_for_sampling(config):
  config = config.copy_and_resolve_references()
  config.memory_sharded = False
  return config


if __name__ == '__main__':
  app.run(main)
