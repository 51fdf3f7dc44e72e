"""MemoryGAN on the grid of 25 Gaussians (means in {-4,-2,0,2,4}^2, sigma 0.05).

    python -m experiments.train --config=grid25 --workdir=runs/grid25_memory

As ring8 (MLP nets, 2,500 scored samples). Published reference points: VEEGAN Table 1 and
PacGAN Table 1 (e.g. PacGAN4: 24.8 modes, 93.6% high quality). Measured here over 5 seeds
(`python -m experiments.mode_benchmark --config=grid25`, WORKSPACE.md): MemoryGAN 15.4 modes,
1.5% high quality; the DCGAN baseline 20.4 modes, 5.0% (this config's reference memory).
With the fashion default's memory (`--config.memory.write_rule=proposals
--config.memory.kappa=10 --config.memory.choose_k=4096 --config.loss=alternative`, all
models; about 2 minutes of training per MemoryGAN seed): MemoryGAN 15.2 modes, 1.7%
(15.2, 4.9% with `--config.mi_form=cosine --config.mi_weight=1.0
--config.mi_networks=generator`); DCGAN 19.4, 4.3%; MAD-GAN 18.0, 4.0%. With the posterior
MI term on G (`--config.mi_form=posterior --config.mi_weight=0.1
--config.mi_networks=generator`): MemoryGAN 17.6 modes (23, 17, 10, 19, 19), 5.8%, reverse
KL 1.15 against DCGAN's 0.73. MemoryGAN is below the baseline here.
"""

from experiments.configs import ring8


def get_config():
  config = ring8.get_config()
  config.data.name = 'grid25'
  config.data.mixture = 'grid25'
  return config
