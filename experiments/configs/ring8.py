"""MemoryGAN on the ring of 8 Gaussians (radius 1, sigma 0.01): a mode-collapse benchmark.

    python -m experiments.train --config=ring8 --workdir=runs/ring8_memory
    python -m experiments.train --config=ring8 --config.model.kind=dcgan --workdir=runs/ring8_dcgan

MLP nets (2 hidden layers of 128), batch 64, N=4096, k=N; 2,500 samples scored every
sample_every steps: modes covered, share within 3 sigma, reverse KL of the mode histogram
(mgan_jax.data.toy), and a scatter plot over the mode centres. Published reference points:
VEEGAN Table 1 and PacGAN Tables 1-2.

The memory, loss and MI term are the fashion default's (since 2026-12-05; the write-rule
study, issue 12): the `proposals` write at kappa 10, the read's posterior over all N slots,
the write's S_y over every slot of the label (as measured; fashion takes the top 128),
the non-saturating loss (the baseline's better loss too: `mode_benchmark` gives every model
this config's loss) and the posterior MI term at weight 0.1 on G. Measured over 5 seeds,
5,000 steps (`python -m experiments.mode_benchmark --config=ring8`, WORKSPACE.md; about 2-3
minutes of training per MemoryGAN seed here):

  MemoryGAN (this config)                    6.8 modes (7, 7, 8, 8, 4), 29.7% high quality,
                                             reverse KL 0.59
  + --config.mi_form=cosine --config.mi_weight=1.0
                                             7.0 modes (7 on every seed), 31.0%, KL 0.67
  SPEC's squared term (--config.mi_form=squared --config.mi_weight=0.01
  --config.mi_networks=both)                 5.6 modes, 40.4%, KL 0.96
  DCGAN (model.kind=dcgan, `alternative`)    6.8 modes (7, 7, 5, 7, 8), 39.6%, KL 1.06
  MAD-GAN (ring8_madgan)                     7.8 modes, 77.5%
  the reference memory (--config.memory.write_rule=batched --config.memory.kappa=1
  --config.memory.choose_k=128 --config.loss=jsd --config.mi_form=squared
  --config.mi_weight=0.01 --config.mi_networks=both)
                                             1.8 modes, 0.3% (DCGAN with jsd: 6.2, 54.4%)
"""

from experiments.configs import base


def get_config():
  config = base.base_config()
  config.data.name = 'ring8'
  config.eval_protocol = 'mixture'
  config.data.source = 'mixture'
  config.data.mixture = 'ring8'
  config.data.num_examples = 100000
  config.data.shape = (2,)
  config.data.image_range = 'none'
  config.model.z_dim = 2
  config.model.key_dim = 16
  config.model.encoder = 'mlp'
  config.model.encoder_kwargs = {'hidden': (128, 128)}
  config.model.generator = 'mlp'
  config.model.generator_kwargs = {'out_dim': 2, 'hidden': (128, 128)}
  config.memory.key_dim = 16  # N = 4096 as fashion (SPEC 5)
  # The fashion default's memory, loss and MI term (fashion.py; WORKSPACE.md, issue 12).
  config.memory.write_rule = 'proposals'
  config.memory.kappa = 10.0
  config.memory.choose_k = 4096        # = num_slots: the posterior over every slot
  config.loss = 'alternative'
  config.mi_form = 'posterior'
  config.mi_weight = 0.1
  config.mi_networks = 'generator'
  config.optim.learning_rate = 1e-3
  config.num_steps = 5000
  config.num_samples = 2500
  config.sample_every = 1000
  return config
