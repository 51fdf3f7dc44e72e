r"""Who separates real from fake in a trained MemoryGAN: the encoder, or the memory's read?

    python -m benchmarks.separation --workdir=runs/study/stacked_mem_micos1g_s1 \
        [--step=2000] [--num=512] [--kappas=1,3,10,30]

The question behind issue 12's failure pattern (the memory discriminator wins outright:
D(real) ~ 0.9, D(fake) ~ 0.02, every real query in a real slot and every fake in a fake
one). From the run's checkpoint it draws ``num`` training images and ``num`` generated ones
(z and K_c as the train step draws them, batch statistics as in training), encodes both
with the discriminator, and reports:

- the read, as trained and at other read sharpnesses ``kappa`` (same encoder, same memory,
  same queries): mean p(real) of real and of fake queries. If a smoother read still gives
  the fakes p(real) ~ 0, the read's sharpness is not what makes D win;
- where the queries lie against the memory: the mean over queries of the largest cosine to
  a real slot's key and to a fake slot's key;
- the encoder without the memory: the cosine between the real and the fake queries' mean
  directions, and the held-out accuracy of a nearest-mean classifier of the two sets
  (means from one half, accuracy on the other); 1.0 means the encoder alone separates them.

Not a test: an analysis of one checkpoint, printed as markdown.
"""

import dataclasses

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from mgan_jax import data
from mgan_jax import memory as mm
from mgan_jax.train import runs
from mgan_jax.train import sampling
from mgan_jax.train import training

_WORKDIR = flags.DEFINE_string('workdir', None, 'A MemoryGAN training run.', required=True)
_STEP = flags.DEFINE_integer('step', None, 'Checkpoint step (default: the newest).')
_NUM = flags.DEFINE_integer('num', 512, 'Real and generated images each (a multiple of 2).')
_KAPPAS = flags.DEFINE_string('kappas', '1,3,10,30', 'Read sharpnesses to compare.')
_SEED = flags.DEFINE_integer('seed', 0, 'Which images and z.')


def nearest_mean_accuracy(real: np.ndarray, fake: np.ndarray) -> float:
  """Held-out accuracy of the nearest (cosine) mean direction: means from the first half
  of each set, accuracy on the second halves together."""
  h = real.shape[0] // 2
  means = np.stack([real[:h].mean(0), fake[:h].mean(0)])
  means /= np.linalg.norm(means, axis=1, keepdims=True)
  test = np.concatenate([real[h:], fake[h:]])
  truth = np.concatenate([np.zeros(len(real) - h), np.ones(len(fake) - h)])
  return float(np.mean(np.argmax(test @ means.T, axis=1) == truth))


def main(argv):
  del argv
  run = runs.load_run(_WORKDIR.value, _STEP.value)
  setup, state, config = run.setup, run.state, run.config
  if not setup.uses_memory:
    raise SystemExit(f'{_WORKDIR.value} is not a MemoryGAN run (model.kind '
                     f'{config.model.kind!r})')
  num = _NUM.value
  if num < 4 or num % 2:
    raise SystemExit(f'--num must be an even number >= 4, got {num}')
  rng = jax.random.PRNGKey(_SEED.value)
  k_img, k_gen = jax.random.split(rng)
  images = data.load_images(config.data)
  pick = np.asarray(jax.random.choice(k_img, images.shape[0], (num,), replace=False))
  x_real = sampling.preprocess(jnp.asarray(images[np.sort(pick)]), config.data.image_range)
  g_in, _ = sampling.generator_inputs(setup, state.memory, k_gen, num)
  fake, _ = training.apply_generator(setup.g_train, state.g_params, state.g_stats, g_in,
                                     state.extras, True)

  def encode(x):  # D in training mode, as in the train step (its own batch statistics)
    (features, _), _ = training._apply(setup.d_train, state.d_params, state.d_stats, x, True)
    return np.asarray(mm.normalize(features))
  q_real, q_fake = encode(x_real), encode(fake)
  memory = state.memory
  mem_cfg = setup.memory_config

  print(f'# {_WORKDIR.value}, step {run.step}: {num} real and {num} generated images')
  print(f'memory: {int(np.sum(np.asarray(memory.values) == 1))} real slots of '
        f'{memory.keys.shape[0]}; read kappa as trained {mem_cfg.kappa:g}, top-k '
        f'{mem_cfg.choose_k}')
  print()
  print('| read kappa | mean p(real), real queries | mean p(real), fake queries |')
  print('|---|---|---|')
  kappas = sorted({float(k) for k in _KAPPAS.value.split(',')} | {float(mem_cfg.kappa)})
  for kappa in kappas:
    cfg = dataclasses.replace(mem_cfg, kappa=kappa)
    p_real = float(jnp.mean(mm.read(memory, jnp.asarray(q_real), cfg).prob_real))
    p_fake = float(jnp.mean(mm.read(memory, jnp.asarray(q_fake), cfg).prob_real))
    mark = ' (as trained)' if kappa == mem_cfg.kappa else ''
    print(f'| {kappa:g}{mark} | {p_real:.3f} | {p_fake:.3f} |')
  keys = np.asarray(memory.keys)
  is_real = np.asarray(memory.values) == 1
  print()
  print('| queries | max cos to a real key | max cos to a fake key |')
  print('|---|---|---|')
  for name, q in (('real', q_real), ('fake', q_fake)):
    sims = q @ keys.T
    print(f'| {name} | {sims[:, is_real].max(1).mean():.3f} | '
          f'{sims[:, ~is_real].max(1).mean():.3f} |')
  m_real, m_fake = q_real.mean(0), q_fake.mean(0)
  cos = float(m_real @ m_fake / (np.linalg.norm(m_real) * np.linalg.norm(m_fake)))
  print()
  print(f'encoder alone: cosine of the mean directions {cos:.3f}; nearest-mean accuracy '
        f'(held out) {nearest_mean_accuracy(q_real, q_fake):.3f}')


if __name__ == '__main__':
  app.run(main)
