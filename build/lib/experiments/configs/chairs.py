"""MemoryGAN on the rendered Chairs of Aubry et al. at 64x64: the celeba networks and
hyperparameters, images from a folder.

    python -m experiments.train --config=chairs --config.data.data_dir=PATH --workdir=runs/chairs

Data: every PNG/JPEG under data_dir (rendered_chairs), center-cropped and resized to 64.
Run time on an accelerator: not yet measured.
"""

from experiments.configs import celeba


def get_config():
  config = celeba.get_config()
  config.data.name = 'chairs'
  config.eval_protocol = 'inception'
  config.data.source = 'folder'
  config.data.tfds_name = ''
  config.data.crop = 0
  return config
