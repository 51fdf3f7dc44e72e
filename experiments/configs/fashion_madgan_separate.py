"""MAD-GAN on Fashion-MNIST with k = 4 separate generators (each the full fashion
generator, its own parameters), the stronger of the two MAD-GAN baselines measured here;
otherwise ``fashion_madgan``.

    python -m experiments.train --config=fashion_madgan_separate --workdir=runs/fashion_madgan_sep

The generators are stacked and run as a compiled loop (``madgan.stacking='scan'``): on the
project's 2-core CPU ``vmap`` runs them as grouped convolutions, 1.6x slower again
(WORKSPACE.md, "MAD-GAN", cost per step); on a GPU or TPU ``--config.madgan.stacking=vmap``
is the expected choice (not measured). Measured on that CPU, 2,000 steps, 2,000 samples,
seeds 0, 1, 2 (about 25 min a run on one core): FID 16.91 / 13.65 / 15.11 (15.22 +- 1.63),
against 28.22 / 23.81 / 27.93 for the paper's shared layers (``fashion_madgan``), DCGAN's
23.65 / 20.11 / 31.55 and MemoryGAN's 9.17 / 12.94 / 11.03 on the same seeds: below DCGAN
and above MemoryGAN on each. The generators specialise (D names a fake's generator for
about 60% of them, chance 25%). WORKSPACE.md, "MAD-GAN".
"""

from experiments.configs import fashion_madgan


def get_config():
  config = fashion_madgan.get_config()
  config.madgan.share_layers = False
  config.madgan.stacking = 'scan'
  return config
