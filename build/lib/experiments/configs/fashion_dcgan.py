"""The memory-free DCGAN baseline on Fashion-MNIST: the fashion config's networks, a logit
head instead of the memory, the same losses (without the mutual-information term).

    python -m experiments.train --config=fashion_dcgan --workdir=runs/fashion_dcgan

Same data and budget as `fashion`, for side-by-side comparisons (WORKSPACE.md). Measured on
the project's 2-core CPU: 8,000 steps, then FID 16.74 / precision 0.856 / classifier score
5.11 in the project's classifier features (MemoryGAN at the same step: 47.19 / 0.382 / 2.80).
"""

from experiments.configs import fashion


def get_config():
  config = fashion.get_config()
  config.model.kind = 'dcgan'
  config.data.name = 'fashion'
  return config
