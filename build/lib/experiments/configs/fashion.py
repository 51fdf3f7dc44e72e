"""MemoryGAN on Fashion-MNIST (the paper's first data set; SPEC section 5 hyperparameters).

    python -m experiments.train --config=fashion --workdir=runs/fashion_memory

Data: Debian's dataset-fashion-mnist (no network). Memory keys start as random unit vectors
(see base.py; --config.memory.key_init=zeros is the reference code's init).
Measured on this project's 2-core CPU (WORKSPACE.md, results log): 2.9-3.2 steps/s at batch
64, so the default 20,000 steps take about 1 h 50 min; after 8,000 steps (57 min) garments
of several classes, FID 47.2 / precision 0.38 / classifier score 2.80 in the project's
classifier features (the best-looking samples were at ~3,000 steps). The paper shows one
garment type per memory slot; this budget does not reach that.
"""

from experiments.configs import base


def get_config():
  config = base.base_config()
  config.data.name = 'fashion'
  config.eval_protocol = 'fashion'
  config.eval_every = 1000             # FID/KID/PR/classifier score on 2,000 samples
  return config
