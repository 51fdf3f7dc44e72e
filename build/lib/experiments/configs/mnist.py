"""MemoryGAN on MNIST, with the fashion networks and hyperparameters.

    python -m experiments.train --config=mnist --workdir=runs/mnist

Data: tensorflow-datasets 'mnist' in array_record format (see WORKSPACE.md, Data). The
networks and sizes of fashion, so the same step time (2.9-3.2 steps/s on the project's
2-core CPU, measured for fashion); results on MNIST: not yet measured.
"""

from experiments.configs import base


def get_config():
  config = base.base_config()
  config.data.name = 'mnist'
  config.eval_protocol = 'mnist'
  config.data.source = 'tfds'
  config.data.tfds_name = 'mnist'
  return config
