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

The MI term (since 2026-12-04): `posterior` with weight 0.1 on G only, InfoGAN's bound with
the memory's posterior over its real slots as Q (mgan_jax.gans.memorygan). With it the
generator follows its slot: each row of the per-slot grid is one kind of garment (without
it, z decided the class). SPEC 4's `squared` term on D and G is
`--config.mi_form=squared --config.mi_weight=0.01 --config.mi_networks=both`.

Measured on this project's 2-core CPU, 2,000 steps (26-31 min pinned to one core beside
another run), FID / precision / recall / classifier score on 2,000 samples in the project's
classifier features, and the slots of the 10 most used with >= 0.7 class purity (slot
samples generated in training-like batches, the evaluation's protocol since 2026-12-05;
the older, five-slot batches gave 4, 3, 6, 4, 0):

    python -m experiments.train --config=fashion --workdir=runs/fashion_s0 --config.seed=0 \
        --config.num_steps=2000 --config.eval_every=500

  seed  this config                       SPEC's squared term (before)   DCGAN (alternative)
  0     9.17 / 0.83 / 0.26 / 6.22, 6/10   10.14 / 0.88 / 0.18 / 5.99     23.65 / 0.81 / 0.00 / 5.10
  1     12.94 / 0.83 / 0.16 / 6.39, 8/10  13.01 / 0.85 / 0.17 / 5.58     20.11 / 0.82 / 0.00 / 5.03
  2     11.03 / 0.85 / 0.19 / 6.32, 8/10  13.89 / 0.80 / 0.12 / 5.45     31.55 / 0.79 / 0.00 / 3.41
  3     10.07 / 0.87 / 0.22 / 5.99, 7/10  10.38 / 0.87 / 0.23 / 5.89     24.34 / 0.79 / 0.00 / 4.70
  4     9.89 / 0.85 / 0.25 / 5.97, 1/10   10.40 / 0.84 / 0.19 / 5.74     18.34 / 0.85 / 0.00 / 4.71

FID over the five seeds at 2,000: 10.62 +- 1.46 (sample sd), lower than the squared term's
on 5 of 5 seeds and than DCGAN's on 5 of 5 (sign test p = 0.0625 each). At 500 it is the
highest of the three on every seed (47-58): the term slows the start.
At 4,000 steps (seeds 0 and 1, `--config.num_steps=4000`; about 23 min more a run here):
FID 4.45 and 7.68 against DCGAN's 14.00 and 15.09; 9 and 7 of 10 pure slots.

(DCGAN: `fashion_dcgan` with its better loss, `--config.loss=alternative`, same budget.)
With the squared term, over the five seeds at 2,000: FID 11.56 +- 1.76 against DCGAN's
23.60 +- 5.09 (sample sd), lower on 5 of 5 seeds (sign test p = 0.0625), with 0-1 of 10
pure slots (in the older batches; those runs are not on this machine to re-score). The
squared-term runs used `--config.memory.write_k=128` before it became the
default (commit d39bdd8; seeds 3 and 4 at f7a72f2, the same training code); the
posterior-term runs are at commit b3fb718 (`runs/study/fashion_mem_mipost01g_sS`).
The baseline can lead early (at 500 on most seeds). The table, from the runs' own score
files:

    python -m experiments.compare --group='memory=runs/study/fashion_mem_mipost01g_s*' \
        --group='dcgan=runs/study/fashion_dcgan_alt_s*' --metric=fid,precision,recall

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
  # The MI term with the memory's posterior over the real slots as InfoGAN's Q, on G only:
  # the generator follows its slot (WORKSPACE.md, results log; SPEC 4's form is 'squared').
  config.mi_form = 'posterior'
  config.mi_weight = 0.1
  config.mi_networks = 'generator'
  config.eval_every = 1000             # FID/KID/PR/classifier score on 2,000 samples
  return config
