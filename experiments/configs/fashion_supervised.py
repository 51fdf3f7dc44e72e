"""The supervised-only baseline of `fashion_semisup`: the same discriminator, labelled
examples (10 per class, default_rng(0)), steps and evaluation, trained on the labelled
examples alone (``semisup.unsupervised_weight = 0``: no unlabelled or generated image in its
loss; the generator still trains, and changes nothing in the discriminator).

    python -m experiments.train --config=fashion_supervised --workdir=runs/fashion_supervised
"""

from experiments.configs import fashion_semisup


def get_config():
  config = fashion_semisup.get_config()
  config.semisup.unsupervised_weight = 0.0
  return config
