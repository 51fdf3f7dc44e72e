"""The memory-free DCGAN baseline on Fashion-MNIST: the fashion config's networks, a logit
head instead of the memory, the same losses (without the mutual-information term).

    python -m experiments.train --config=fashion_dcgan --workdir=runs/fashion_dcgan

Same data and budget as `fashion`, for side-by-side comparisons (WORKSPACE.md).
"""

from experiments.configs import fashion


def get_config():
  config = fashion.get_config()
  config.model.kind = 'dcgan'
  config.data.name = 'fashion'
  return config
