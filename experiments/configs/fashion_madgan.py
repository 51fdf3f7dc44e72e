"""MAD-GAN on Fashion-MNIST: the fashion config's nets, data, loss, budget and evaluation,
k = 4 generators sharing every layer but the last (as the paper does for images), one 5-way
discriminator.

    python -m experiments.train --config=fashion_madgan --workdir=runs/fashion_madgan
    python -m experiments.train --config=fashion_madgan --config.madgan.similarity=True \
        --workdir=runs/fashion_madgan_sim                     # MAD-GAN-Sim (phi: D's features)

The per-generator grid (``samples/generators_STEP.png``: one row per generator, one z per
column) and eval.json's ``generator_majority_class`` / ``generator_majority_share`` show
what each generator draws. Results: WORKSPACE.md, "MAD-GAN".
"""

from experiments.configs import fashion


def get_config():
  config = fashion.get_config()
  config.model.kind = 'madgan'
  config.data.name = 'fashion'
  config.madgan.num_generators = 4
  config.madgan.share_layers = True
  return config
