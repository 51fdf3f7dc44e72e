"""MemoryGAN on the ring of 8 Gaussians (radius 1, sigma 0.01): a mode-collapse benchmark.

    python -m experiments.train --config=ring8 --workdir=runs/ring8_memory
    python -m experiments.train --config=ring8 --config.model.kind=dcgan --workdir=runs/ring8_dcgan

MLP nets (2 hidden layers of 128), batch 64, N=4096, k=128; 2,500 samples scored every
sample_every steps: modes covered, share within 3 sigma, reverse KL of the mode histogram
(mgan_jax.data.toy), and a scatter plot over the mode centres. Published reference points:
VEEGAN Table 1 and PacGAN Tables 1-2. Measured here over 5 seeds (`python -m
experiments.mode_benchmark --config=ring8`, WORKSPACE.md): MemoryGAN 1.8 modes, 0.3% high
quality; the DCGAN baseline 6.2 modes, 54.4%. About 5 minutes per MemoryGAN seed on 2 cores.
With the fashion default's memory (`--config.memory.write_rule=proposals
--config.memory.kappa=10 --config.memory.choose_k=4096 --config.loss=alternative`, all
models): MemoryGAN 5.6 modes, 40.4%; DCGAN 6.8, 39.6%; MAD-GAN 7.8, 77.5% (WORKSPACE.md);
with the cosine MI term on G (`--config.mi_form=cosine --config.mi_weight=1.0
--config.mi_networks=generator`): MemoryGAN 7.0 modes on every seed, 31.0%, reverse KL
0.67 against DCGAN's 1.06; with the posterior MI term on G (`--config.mi_form=posterior
--config.mi_weight=0.1 --config.mi_networks=generator`): 6.8 modes (7, 7, 8, 8, 4), 29.7%,
reverse KL 0.59. About 2-3 minutes of training per MemoryGAN seed.
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
  config.memory.key_dim = 16  # N = 4096, k = 128 as fashion (SPEC 5)
  config.optim.learning_rate = 1e-3
  config.num_steps = 5000
  config.num_samples = 2500
  config.sample_every = 1000
  return config
