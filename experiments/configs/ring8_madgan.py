"""MAD-GAN (Ghosh et al. 2018) on the ring of 8 Gaussians: k = 4 generators, one 5-way
discriminator, the ring8 nets, data, budget and protocol.

    python -m experiments.train --config=ring8_madgan --workdir=runs/ring8_madgan
    python -m experiments.train --config=ring8_madgan --config.madgan.similarity=True \
        --workdir=runs/ring8_madgan_sim                       # MAD-GAN-Sim
    python -m experiments.mode_benchmark --config=ring8        # all four models, 5 seeds

Each generator is the ring8 MLP (its own parameters, stacked and vmapped) and gets 16 of
the batch's 64 rows; the per-generator statistics (modes each covers and wins) are printed
with every sample plot. Results: WORKSPACE.md, "MAD-GAN".
"""

from experiments.configs import ring8


def get_config():
  config = ring8.get_config()
  config.model.kind = 'madgan'
  config.madgan.num_generators = 4
  return config
