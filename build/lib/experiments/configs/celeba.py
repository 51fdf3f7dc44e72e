"""MemoryGAN on CelebA 64x64 (center crop 108, resized): DCGAN-style nets (the reference
code has none for CelebA), z_dim 16, N=16384, M=512, k=256, lambda=1e-6 (SPEC 5).

    python -m experiments.train --config=celeba --workdir=gs://BUCKET/runs/celeba

Data: tfds 'celeb_a' (array_record; its files must be placed by hand, see the tfds
catalog), decoded and resized once, cached in DATA_DIR/mgan_cache. The paper shows
samples, no score; `experiments.evaluate` scores it with the FID Inception-v3 (weights file
from the user). Step time on the project's 2-core CPU (batch 64, synthetic images,
`benchmarks/train_step.py`): 1.93 s, memory overhead +7.8%; on a Cloud TPU: not yet measured.
"""

from experiments.configs import base


def get_config():
  config = base.base_config()
  config.data.name = 'celeba'
  config.eval_protocol = 'inception'
  config.data.source = 'tfds'
  config.data.tfds_name = 'celeb_a'
  config.data.shape = (64, 64, 3)
  config.data.crop = 108
  config.data.image_range = 'symmetric'
  config.model.z_dim = 16
  config.model.key_dim = 512
  config.model.encoder_kwargs = {'features': (64, 128, 256, 512)}
  config.model.generator_kwargs = {
      'out_channels': 3, 'base_size': 4, 'base_features': 512, 'hidden': (),
      'up_features': (256, 128, 64), 'out_act': 'tanh'}
  config.memory.num_slots = 16384
  config.memory.key_dim = 512
  config.memory.choose_k = 256
  config.mi_weight = 1e-6
  config.num_steps = 100000
  return config
