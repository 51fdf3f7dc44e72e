"""MAD-GAN (Ghosh et al. 2018) on the ring of 8 Gaussians: k = 4 generators, one 5-way
discriminator, the ring8 nets, data, budget and protocol.

    python -m experiments.train --config=ring8_madgan --workdir=runs/ring8_madgan
    python -m experiments.train --config=ring8_madgan --config.madgan.similarity=True \
        --workdir=runs/ring8_madgan_sim                       # MAD-GAN-Sim
    python -m experiments.mode_benchmark --config=ring8        # all four models, 5 seeds

Each generator is the ring8 MLP (its own parameters, stacked and vmapped) and gets 16 of
the batch's 64 rows; the per-generator statistics (modes each covers and wins) are printed
with every sample plot. About 15 s per 5,000-step run on the project's 2-core CPU. Measured
over 5 seeds with `--config.loss=alternative` (the mode benchmark's command in WORKSPACE.md,
"MAD-GAN, MAD-GAN-Sim, MemoryGAN and DCGAN on the 2D mixtures"): 7.8 +- 0.4 modes, 77.5%
high quality, reverse KL 0.19, each generator winning about 2 modes; MAD-GAN-Sim 6.8 modes;
the DCGAN baseline 6.8 modes, 39.6%.
"""

from experiments.configs import ring8


def get_config():
  config = ring8.get_config()
  config.model.kind = 'madgan'
  config.madgan.num_generators = 4
  return config
