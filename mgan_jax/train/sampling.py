"""Generator inputs and grids, in one place: z, the head's conditioning, per-slot rows, and
the pixel range of a data set's images.

Used by the train step, the trainer's sample grids, ``experiments.sample`` and the
evaluation, so that every sample of a run is drawn the same way.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from mgan_jax import memory as mm

IMAGE_RANGES = ('unit', 'symmetric', 'none')


def draw_z(rng: jax.Array, num: int, z_dim: int) -> jax.Array:
  """``z ~ U(-1, 1)^z_dim`` (SPEC 4), [num, z_dim] float32."""
  return jax.random.uniform(rng, (num, z_dim), jnp.float32, -1.0, 1.0)


def generator_inputs(setup, head_state, rng: jax.Array, num: int):
  """``([z, cond], cond)`` for ``num`` samples: z ~ U(-1, 1) and the head's conditioning
  (MemoryGAN: ``K_c``, c ~ the real-slot histogram; None for heads without one). With a
  head whose ``rows_per_z()`` is r > 1, rows ``r q .. r q + r - 1`` share one z.
  ``setup`` is a :class:`mgan_jax.train.training.Setup`."""
  k_z, k_c = jax.random.split(rng)
  share = setup.head.rows_per_z()  # MAD-GAN-Sim: the k generators' rows share one z
  z = draw_z(k_z, num // share, setup.z_dim)
  if share > 1:
    z = jnp.repeat(z, share, axis=0)
  cond = setup.head.condition(head_state, k_c, num)
  if cond is None:
    return z, None
  return jnp.concatenate([z, cond], axis=1), cond


def most_used_real_slots(memory: mm.Memory, rows: int) -> jax.Array:
  """The ``rows`` slots with the largest ``h v``, most used first."""
  weight = memory.hist * memory.values.astype(memory.hist.dtype)
  return jax.lax.top_k(weight, rows)[1]


def slot_grid_inputs(memory: mm.Memory, z: jax.Array, rows: int, slots=None):
  """Generator inputs for a grid with one row per slot of ``slots`` (default: the ``rows``
  most used real slots by ``h v``), a fixed z per column.

  Returns ``(inputs [rows * len(z), z_dim + key_dim], slot indices [rows])``.
  """
  if slots is None:
    slots = most_used_real_slots(memory, rows)
  slots = jnp.asarray(slots, jnp.int32)
  rows = slots.shape[0]
  keys = memory.keys[slots]
  cols = z.shape[0]
  g_in = jnp.concatenate([jnp.tile(z, (rows, 1)), jnp.repeat(keys, cols, axis=0)], axis=1)
  return g_in, slots


def generator_grid_inputs(z: jax.Array, k: int) -> jax.Array:
  """Inputs for MAD-GAN's per-generator grid: each z of ``z`` [cols, D] once per generator,
  [cols * k, D] (row ``c k + i``: generator i on ``z_c``)."""
  return jnp.repeat(z, k, axis=0)


def rows_by_generator(outputs, k: int):
  """The outputs of :func:`generator_grid_inputs` reordered one generator after another
  (generator i's samples at rows ``i cols .. (i + 1) cols - 1``)."""
  outputs = np.asarray(outputs)
  cols = outputs.shape[0] // k
  return np.swapaxes(outputs.reshape((cols, k) + outputs.shape[1:]), 0, 1).reshape(
      outputs.shape)


def check_image_range(image_range: str) -> None:
  if image_range not in IMAGE_RANGES:
    raise ValueError(f'data.image_range must be one of {IMAGE_RANGES}, got {image_range!r}')


def value_range(image_range: str) -> tuple[float, float]:
  """The generator's output range for a data set's ``image_range``."""
  check_image_range(image_range)
  return (-1.0, 1.0) if image_range == 'symmetric' else (0.0, 1.0)


def to_unit(images, image_range: str):
  """Generated images in [0, 1], whatever the data set's range."""
  check_image_range(image_range)
  return (images + 1.0) / 2.0 if image_range == 'symmetric' else images


def preprocess(images: jax.Array, image_range: str) -> jax.Array:
  """uint8 images -> float32 in [0, 1] ('unit') or [-1, 1] ('symmetric'); 'none': float
  data (2D points) as they are."""
  check_image_range(image_range)
  if image_range == 'none':
    return images.astype(jnp.float32)
  x = images.astype(jnp.float32) / 255.0
  return 2.0 * x - 1.0 if image_range == 'symmetric' else x


def slot_purity_inputs(memory: mm.Memory, slots, z: np.ndarray) -> np.ndarray:
  """``[z, K_c]`` for every z and each slot of ``slots`` in turn, [len(slots) * len(z), D]."""
  keys = np.asarray(memory.keys)
  return np.concatenate([np.concatenate([z, np.broadcast_to(keys[c], (len(z), keys.shape[1]))],
                                        axis=1) for c in slots])


def generate_in_context(generate, state, setup, inputs, rng: jax.Array, *, per_batch: int = 100,
                        batch: int = 500) -> np.ndarray:
  """``generate(state, ·)`` of ``inputs`` [n, D], each generated inside a batch of ``batch``
  rows drawn as in training, ``n`` outputs in the order of ``inputs``.

  A generator that normalises with the statistics of the batch it is given (the samples'
  ``sample_bn_mode='batch'``, as the reference code samples) draws something else from a
  batch of one slot's inputs than from a training batch: the batch mean removes what the
  slot's key has in common across the batch. Measured on the fashion default at step 2,000
  (seed 4): a slot that only trouser images pick generated 31% coats in a batch of five slots'
  inputs and 64% trousers in context. So the inputs go ``per_batch`` at a time, interleaved
  (row ``i`` in chunk ``i mod chunks``, so every chunk holds a few rows of every slot), into
  batches filled up with ``batch - per_batch`` inputs drawn from the prior
  (:func:`generator_inputs`, chunk ``j`` with ``fold_in(rng, j)``). Single-generator heads only
  (MAD-GAN's rows are tied to their position in the batch)."""
  if setup.head.num_generators() > 1:
    raise ValueError('generate_in_context needs a single-generator head: MAD-GAN ties a row '
                     'to its position in the batch')
  inputs = np.asarray(inputs)
  n = len(inputs)
  if n == 0:
    return np.zeros((0,), np.float32)
  per_batch = max(1, min(per_batch, n, batch - 1))
  chunks = -(-n // per_batch)
  out = None
  for j in range(chunks):
    rows = np.arange(j, n, chunks)
    context, _ = generator_inputs(setup, state.memory, jax.random.fold_in(rng, j),
                                  batch - len(rows))
    g_in = jnp.concatenate([jnp.asarray(inputs[rows]), context], axis=0)
    images = np.asarray(generate(state, g_in))[:len(rows)]
    if out is None:
      out = np.zeros((n,) + images.shape[1:], images.dtype)
    out[rows] = images
  return out
