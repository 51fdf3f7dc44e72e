"""MemoryGAN on Fashion-MNIST (the paper's first data set; SPEC section 5 hyperparameters).

    python -m experiments.train --config=fashion --workdir=runs/fashion_memory

Data: Debian's dataset-fashion-mnist (no network). Memory keys start as random unit vectors.

The memory's setting comes from the write-rule study (WORKSPACE.md, results log, issue 12):
the `proposals` write rule (bounded histogram, order-free), kappa = 10 for the read and the
write, the read's posterior over all N slots (choose_k = N: every read passes a gradient;
with the paper's top-128 at kappa = 1 the discriminator won outright, 95% of the generator's
samples reading no real slot), the write's S_y over the top 128 slots of the label
(write_k = 128: with S_y = every slot of a label, every age is 0 after each write and the
LRU only ever takes the lowest-index slots), and the non-saturating loss.

Measured on this project's 2-core CPU, 2,000 steps (26 min with the CPU to itself), FID /
precision / recall / classifier score on 2,000 samples in the project's classifier features:

    python -m experiments.train --config=fashion --workdir=runs/fashion_s0 --config.seed=0 \
        --config.num_steps=2000 --config.eval_every=500

  seed 0: 10.14 / 0.88 / 0.18 / 5.99   (write_k = N before: 12.96; DCGAN 23.65 / 0.81 / 0.00 / 5.10)
  seed 1: 13.01 / 0.85 / 0.17 / 5.58   (14.84; DCGAN 20.11 / 0.82 / 0.00 / 5.03)
  seed 2: 13.89 / 0.80 / 0.12 / 5.45   (43.28; DCGAN 31.55 / 0.79 / 0.00 / 3.41)
  seed 3: 10.38 / 0.87 / 0.23 / 5.89   (28.23; DCGAN 24.34 / 0.79 / 0.00 / 4.70)
  seed 4: 10.40 / 0.84 / 0.19 / 5.74   (DCGAN 18.34 / 0.85 / 0.00 / 4.71)

(DCGAN: `fashion_dcgan` with its better loss, `--config.loss=alternative`, same budget.)
Over the five seeds at 2,000, FID 11.56 +- 1.76 against 23.60 +- 5.09 (sample sd), lower on
5 of 5 seeds (sign test p = 0.0625, the smallest five seeds allow); at 500 lower on 1 of 5.
The table, from the runs' own score files:

    python -m experiments.compare --group='memory=runs/study/fashion_mem_wk128_s*' \
        --group='dcgan=runs/study/fashion_dcgan_alt_s*' --metric=fid,precision,recall

The
baseline can lead early (seeds 1 and 2 at 500 and 1,000; seeds 3 and 4 at 500). These runs used
`--config.memory.write_k=128` before it became the default (commit d39bdd8; seeds 3 and 4 at
f7a72f2, the same training code).
The memory clusters the test images by class (7 of its 10 busiest real slots >= 0.7 class
purity on seeds 0, 2 and 3), but the generator does not follow the slot (slot purity at
most 1 of 10 >= 0.7). The MI term on the key's direction, G only
(--config.mi_form=cosine --config.mi_weight=1 --config.mi_networks=generator), seed 0:
FID 11.86 at 2,000 (11.10 at 1,500), the generated class is the slot's data label in 6 of
10 slots (0 of 10 with the default), purity >= 0.7 on 2 of 10.
The reference code's memory: --config.memory.write_rule=batched --config.memory.kappa=1
--config.memory.choose_k=128 --config.loss=jsd (its memory collapses to one direction).
"""

from experiments.configs import base


def get_config():
  config = base.base_config()
  config.data.name = 'fashion'
  config.eval_protocol = 'fashion'
  config.memory.write_rule = 'proposals'
  config.memory.kappa = 10.0           # read, hit test and (kappa_write = 0) the write
  config.memory.choose_k = 4096        # = num_slots: the posterior over every slot
  config.memory.write_k = 128          # the write's S_y: the top 128 of the label
  config.loss = 'alternative'
  config.eval_every = 1000             # FID/KID/PR/classifier score on 2,000 samples
  return config
