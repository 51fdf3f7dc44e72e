"""MemoryGAN on Fashion-MNIST (the paper's first data set; SPEC section 5 hyperparameters).

    python -m experiments.train --config=fashion --workdir=runs/fashion_memory

Data: Debian's dataset-fashion-mnist (no network). Memory keys start as random unit vectors
(see base.py; --config.memory.key_init=zeros is the reference code's init). Run time and
results on this project's 2-core CPU: WORKSPACE.md, results log (EXPECTED_FILLED_AT_END).
"""

from experiments.configs import base


def get_config():
  config = base.base_config()
  config.data.name = 'fashion'
  return config
