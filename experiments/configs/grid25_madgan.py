"""MAD-GAN on the grid of 25 Gaussians: as ring8_madgan (k = 4 MLP generators).

    python -m experiments.train --config=grid25_madgan --workdir=runs/grid25_madgan
    python -m experiments.mode_benchmark --config=grid25       # all four models, 5 seeds

Results: WORKSPACE.md, "MAD-GAN".
"""

from experiments.configs import grid25


def get_config():
  config = grid25.get_config()
  config.model.kind = 'madgan'
  config.madgan.num_generators = 4
  return config
