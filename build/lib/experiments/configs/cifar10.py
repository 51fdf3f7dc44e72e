"""MemoryGAN on CIFAR-10 (SPEC 5): residual nets with layer norm and ELU, z_dim 16,
N=16384, M=512, k=256, lambda=1e-6, Adam(2e-4, 0.0, 0.9) decayed linearly to 0, flips.

    python -m experiments.train --config=cifar10 --workdir=runs/cifar10

Data: tfds 'cifar10' (array_record). The paper reports Inception Score 8.04 +- 0.13 after
its full schedule; `experiments.evaluate` computes IS/FID with the FID Inception-v3 (weights
file from the user). Step time on the project's 2-core CPU (batch 64, synthetic images,
`benchmarks/train_step.py`): 5.30 s, memory overhead +2.0%; on a TPU/GPU: not yet measured.
"""

from experiments.configs import base


def get_config():
  config = base.base_config()
  config.data.name = 'cifar10'
  config.eval_protocol = 'inception'
  config.data.source = 'tfds'
  config.data.tfds_name = 'cifar10'
  config.data.shape = (32, 32, 3)
  config.data.image_range = 'symmetric'
  config.data.random_flip = True
  config.model.z_dim = 16
  config.model.key_dim = 512
  config.model.encoder = 'resnet'
  config.model.encoder_kwargs = {'features': 128}
  config.model.generator = 'resnet'
  config.model.generator_kwargs = {'out_channels': 3, 'base_size': 4, 'features': 128,
                                   'num_up': 3}
  config.memory.num_slots = 16384
  config.memory.key_dim = 512
  config.memory.choose_k = 256
  config.mi_weight = 1e-6
  config.optim.b1 = 0.0
  config.optim.b2 = 0.9
  config.optim.lr_decay = 'linear'
  config.num_steps = 100000
  return config
