"""MAD-GAN on Fashion-MNIST: the fashion config's nets, data, loss, budget and evaluation,
k = 4 generators sharing every layer but the last (as the paper does for images), one 5-way
discriminator.

    python -m experiments.train --config=fashion_madgan --workdir=runs/fashion_madgan
    python -m experiments.train --config=fashion_madgan --config.madgan.similarity=True \
        --workdir=runs/fashion_madgan_sim                     # MAD-GAN-Sim (phi: D's features)

The per-generator grid (``samples/generators_STEP.png``: one row per generator, one z per
column) and eval.json's ``generator_majority_class`` / ``generator_majority_share`` show
what each generator draws. Measured on the project's 2-core CPU (37 min, the CPU shared),
2,000 steps, seed 0, 2,000 samples: FID 28.22 / precision 0.77 / recall 0.00 / classifier
score 3.87, against DCGAN's 23.65 and MemoryGAN's 12.96 at the same step and seed; the four
generators stayed near-identical (D names a fake's generator for 28% of them, chance 25%).
MAD-GAN-Sim (the second command; 19 min pinned to one core), same seed and budget: FID
25.17 / 0.71 / 0.00 / 4.78; D names the generator for 44% of fakes, but the four rows of the
per-generator grid are still alike. With separate generators (``--config.madgan.share_layers=False
--config.madgan.stacking=scan``, 25 min pinned to one core): FID 16.91 / 0.84 / 0.02 / 4.75,
and the generators specialise (D names the generator for 60% of fakes; majority classes
trouser, dress, coat, ankle boot). Seeds 1 and 2: shared layers 23.81 and 27.93, separate
generators 13.65 and 15.11 (``fashion_madgan_separate``, the separate form as a config).
WORKSPACE.md, "MAD-GAN".
"""

from experiments.configs import fashion


def get_config():
  config = fashion.get_config()
  config.model.kind = 'madgan'
  config.data.name = 'fashion'
  config.madgan.num_generators = 4
  config.madgan.share_layers = True
  return config
