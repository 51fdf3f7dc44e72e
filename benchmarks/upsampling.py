r"""The fashion generator, forward + backward at batch 64, with its two 4x4/2 upsamplings as
flax's ConvTranspose and as mgan_jax's exactly equivalent ConvTranspose4x4 (XLA's convolution
with a matmul kernel gradient; the image layer as one matmul to 16 taps).

    python -m benchmarks.upsampling [--batch=64] [--repeats=20]

Same parameters, same inputs, one process; prints the median times and checks that the
outputs agree. Not a test.
"""

import functools
import time

from absl import app
from absl import flags
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from mgan_jax.nets import layers

_BATCH = flags.DEFINE_integer('batch', 64, 'Batch size.')
_REPEATS = flags.DEFINE_integer('repeats', 20, 'Timed calls (median taken).')


class FashionGenerator(nn.Module):
  """SPEC 5's fashion G with a choice of upsampling layer."""

  deconv: type

  @nn.compact
  def __call__(self, z):
    bn = functools.partial(nn.BatchNorm, use_running_average=False, use_scale=False)
    h = layers.lrelu(bn()(nn.Dense(1024, use_bias=False)(z)))
    h = nn.relu(bn()(nn.Dense(7 * 7 * 128, use_bias=False)(h))).reshape(-1, 7, 7, 128)
    h = nn.relu(bn()(self.deconv(128, name='up1')(h)))
    return nn.sigmoid(self.deconv(1, name='up2')(h))


def flax_deconv(features, name=None):
  return nn.ConvTranspose(features, (4, 4), (2, 2), padding='SAME', name=name)


def main(argv):
  del argv
  z = jax.random.uniform(jax.random.PRNGKey(0), (_BATCH.value, 258), minval=-1, maxval=1)
  ours, ref = FashionGenerator(layers.ConvTranspose4x4), FashionGenerator(flax_deconv)
  variables = ref.init(jax.random.PRNGKey(1), z)

  def fwd_bwd(module):
    def loss(params):
      out, _ = module.apply({**variables, 'params': params}, z, mutable=['batch_stats'])
      return jnp.mean(out ** 2), out
    return jax.jit(jax.value_and_grad(loss, has_aux=True))

  results = {}
  for name, module in (('flax ConvTranspose', ref), ('mgan_jax ConvTranspose4x4', ours)):
    f = fwd_bwd(module)
    out = f(variables['params'])
    jax.block_until_ready(out)
    times = []
    for _ in range(_REPEATS.value):
      t0 = time.perf_counter()
      jax.block_until_ready(f(variables['params']))
      times.append(time.perf_counter() - t0)
    results[name] = (1e3 * float(np.median(times)), out)
  (a, ((_, out_a), _)), (b, ((_, out_b), _)) = results.values()  # ((loss, images), grads)
  diff = float(jnp.max(jnp.abs(out_a - out_b)))
  print(f'# fashion generator forward + backward, batch {_BATCH.value}, device '
        f'{jax.devices()[0].device_kind}')
  for name, (ms, _) in results.items():
    print(f'{name}: {ms:.1f} ms')
  print(f'speed-up {a / b:.2f}x; max |output difference| {diff:.2e}')


if __name__ == '__main__':
  app.run(main)
