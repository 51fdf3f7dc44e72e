"""MAD-GAN on Fashion-MNIST with k = 4 separate generators (each the full fashion
generator, its own parameters), the stronger of the two MAD-GAN baselines measured here;
otherwise ``fashion_madgan``.

    python -m experiments.train --config=fashion_madgan_separate --workdir=runs/fashion_madgan_sep

The generators are stacked and run as a compiled loop (``madgan.stacking='scan'``): on the
project's 2-core CPU ``vmap`` runs them as grouped convolutions, 1.6x slower again
(WORKSPACE.md, "MAD-GAN", cost per step); on a GPU or TPU ``--config.madgan.stacking=vmap``
is the expected choice (not measured). Measured on that CPU, 2,000 steps, 2,000 samples,
seeds 0 and 1 (about 25 min a run on one core): FID 16.91 and 13.65, against 28.22 and
23.81 for the paper's shared layers (``fashion_madgan``), DCGAN's 23.65 and 20.11 and
MemoryGAN's 9.17 and 12.94 on the same seeds; the generators specialise (D names a fake's
generator for 60% of them, chance 25%). WORKSPACE.md, "MAD-GAN".
"""

from experiments.configs import fashion_madgan


def get_config():
  config = fashion_madgan.get_config()
  config.madgan.share_layers = False
  config.madgan.stacking = 'scan'
  return config
