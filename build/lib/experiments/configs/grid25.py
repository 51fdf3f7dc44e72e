"""MemoryGAN on the grid of 25 Gaussians (means in {-4,-2,0,2,4}^2, sigma 0.05).

    python -m experiments.train --config=grid25 --workdir=runs/grid25_memory

As ring8 (MLP nets, 2,500 scored samples). Published reference points: VEEGAN Table 1 and
PacGAN Table 1 (e.g. PacGAN4: 24.8 modes, 93.6% high quality). Measured here over 5 seeds
(`python -m experiments.mode_benchmark --config=grid25`, WORKSPACE.md): MemoryGAN 15.4 modes,
1.5% high quality; the DCGAN baseline 20.4 modes, 5.0%.
"""

from experiments.configs import ring8


def get_config():
  config = ring8.get_config()
  config.data.name = 'grid25'
  config.data.mixture = 'grid25'
  return config
