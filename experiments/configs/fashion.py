"""MemoryGAN on Fashion-MNIST (the paper's first data set; SPEC section 5 hyperparameters).

    python -m experiments.train --config=fashion --workdir=runs/fashion

Data: Debian's dataset-fashion-mnist (no network). Expected: on a 2-core CPU (no
accelerator) about 4.4 steps/s at batch 64, i.e. about 75 min for the default 20,000 steps
(WORKSPACE.md, results log); recognisable garments by step ~3,000 and clean per-slot
grids (one garment type per row) by the end.
"""

from experiments.configs import base


def get_config():
  config = base.base_config()
  config.data.name = 'fashion'
  return config
