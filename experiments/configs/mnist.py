"""MemoryGAN on MNIST, with the fashion networks and hyperparameters.

    python -m experiments.train --config=mnist --workdir=runs/mnist

Data: tensorflow-datasets 'mnist' in array_record format (see WORKSPACE.md, Data). Expected:
like fashion, about 75 min for 20,000 steps on a 2-core CPU (not yet measured on MNIST).
"""

from experiments.configs import base


def get_config():
  config = base.base_config()
  config.data.name = 'mnist'
  config.data.source = 'tfds'
  config.data.tfds_name = 'mnist'
  return config
