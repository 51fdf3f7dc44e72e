"""The memory-free DCGAN baseline on Fashion-MNIST: the fashion config's networks, a logit
head instead of the memory, the same losses (without the mutual-information term).

    python -m experiments.train --config=fashion_dcgan --workdir=runs/fashion_dcgan

Same data, budget and loss as `fashion` (the non-saturating loss: the baseline's better one
in the write-rule study, FID 23.65 against jsd's 25.66 at 2,000 steps, seed 0), for
side-by-side comparisons (WORKSPACE.md). Measured on the project's 2-core CPU: at 2,000 steps
FID 23.65 / precision 0.81 / recall 0.00 / classifier score 5.10 on 2,000 samples (seed 1:
20.11 / 0.82 / 0.00 / 5.03); MemoryGAN (`fashion`) at the same step: 12.96 / 0.83 / 0.30 /
5.45 (seed 1: 14.84 / 0.82 / 0.25 / 5.31). Seed 2: DCGAN 31.55 / 0.79 / 0.00 / 3.41,
MemoryGAN 43.28 / 0.69 / 0.03 / 2.64: over three seeds the means are 25.10 (DCGAN) and
23.69 (MemoryGAN, standard deviation 13.9): no clear win. (With jsd, 8,000 steps: FID 16.74
on 10,000 samples.)
"""

from experiments.configs import fashion


def get_config():
  config = fashion.get_config()
  config.model.kind = 'dcgan'
  config.data.name = 'fashion'
  return config
