"""MemoryGAN on affine-MNIST: MNIST digits under random affine maps onto 40x40 (SPEC 5).

    python -m experiments.train --config=affmnist --workdir=runs/affmnist

Data: tfds 'mnist' (array_record), transformed once with a fixed seed and cached in
DATA_DIR/mgan_cache. Networks: the reference code's affmnist nets (extra 1x1 convs).
Expected run time on one accelerator: not yet measured (no accelerator run so far).
"""

from experiments.configs import base


def get_config():
  config = base.base_config()
  config.data.name = 'affmnist'
  config.eval_protocol = 'none'
  config.data.source = 'affine_mnist'
  config.data.shape = (40, 40, 1)
  config.model.encoder_kwargs = {'features': (64, 128, 256), 'extra_1x1': True}
  config.model.generator_kwargs = {
      'out_channels': 1, 'base_size': 5, 'base_features': 256, 'hidden': (),
      'base_act': 'lrelu', 'up_features': (128, 64), 'extra_1x1': True, 'out_act': 'sigmoid'}
  return config
