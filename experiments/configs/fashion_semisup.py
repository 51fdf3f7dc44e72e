"""The semi-supervised K+1 GAN (Salimans et al. 2016) on Fashion-MNIST with 100 labels.

    python -m experiments.train --config=fashion_semisup --workdir=runs/fashion_semisup

The fashion networks (the DCGAN baseline's discriminator, with 10 class logits instead of
one), z of 100 dimensions as the paper's generator, feature matching on the layer before
the logits for the generator (the paper's setting for semi-supervised learning). The
labelled examples are 10 per class of the training split, drawn with default_rng(0)
(``--config.semisup.labels_per_class`` and ``--config.semisup.label_seed`` change them); every
training image is also unlabelled data. Evaluation: the discriminator's test-set error
(``eval/test_error``), beside the fashion sample scores. The supervised-only baseline is
``fashion_supervised``. Measured on the project's 2-core CPU with
``--config.num_steps=1000`` (10 minutes here), seeds 0, 1, 2 (``--config.seed=S
--config.semisup.label_seed=S``): test error 31.35% / 28.92% / 28.05%, against the
supervised-only baseline's 29.86% / 28.50% / 29.02%: no clear win at this budget
(WORKSPACE.md, results log, "Semi-supervised"). With the authors' noise layers on D
(``--config.improved.d_input_noise=0.3 --config.improved.d_hidden_noise=0.5``, the baseline
too), seeds 0, 1, 2: 30.77% / 27.31% / 27.24% against 30.60% / 30.33% / 28.10% (mean 28.44%
against 29.68%): a win on two seeds of three, not on each. With 1,000 labels
(``--config.semisup.labels_per_class=100``, 11-15 min pinned to one core), seeds 0, 1, 2:
18.34% / 18.16% / 16.99% against 18.13% / 18.83% / 17.43%: again two seeds of three.
"""

from experiments.configs import fashion_dcgan


def get_config():
  config = fashion_dcgan.get_config()
  config.model.kind = 'semisup'
  config.model.z_dim = 100
  config.loss = 'jsd'                       # D: eq. (6); G: feature matching below
  config.improved.feature_matching = 'features'
  config.semisup.labels_per_class = 10
  config.num_steps = 4000
  config.eval_every = 500
  config.eval_num_samples = 2000
  return config
