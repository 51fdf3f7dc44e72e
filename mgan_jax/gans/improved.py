"""The training techniques of Salimans et al. 2016, "Improved Techniques for Training GANs"
(SPEC section 7), as options of ``config.improved`` that compose with every head.

=========================  ==================================================================
option                     what it does (off by default)
=========================  ==================================================================
``feature_matching``       a discriminator layer's name (:func:`~mgan_jax.nets.models.
                           layer_names`): the generator's adversarial loss is replaced by
                           ``||E f(x) - E f(G(z))||^2`` on that layer (paper, section 3.1).
                           The head's own generator terms (MemoryGAN's mutual-information
                           term) stay. MemoryGAN: match an encoder layer (``conv2``), not
                           ``features`` (the query mu, read only by its direction: matching
                           its batch mean collapsed G on fashion; WORKSPACE).
``minibatch_kernels``      B > 0: minibatch discrimination (section 3.2) with ``T`` in
``minibatch_kernel_dim``   R^{A x B x C} on the features; the comparison batch is the global
                           batch (all replicas). MemoryGAN: the features enter the query
                           through a zero-initialised linear map (:class:`~mgan_jax.nets.
                           models.Discriminator`), since its output is read from the memory.
                           Measured on fashion (WORKSPACE, "Feature matching on fashion
                           FID", 3 seeds): with the memory head it hands D the game; G
                           collapsed to one class on 2 of 3 seeds and was worse on the third.
                           A baseline to compare with, not a remedy.
``historical_averaging``   a weight w > 0: ``w ||theta - mean_{i<=t} theta_i||^2`` added to the
                           D and G losses, each on its own parameters (section 3.3). The means
                           are part of the train state (checkpointed, resumed exactly).
``label_smoothing``        the real target alpha < 1 (one-sided, section 3.4; the paper uses
                           0.9): the real term of D's loss becomes
                           ``-alpha log D(x) - (1 - alpha) log(1 - D(x))``, fakes keep target 0.
                           MemoryGAN: the smoothing is of the loss on the posterior read from
                           the memory; the memory write still labels real queries 1, since a
                           slot's label is the class its key belongs to, not a target.
``virtual_batch_norm``     R > 0: the generator's batch norms become virtual batch norms
                           (section 3.5) whose reference batch is R generator inputs drawn
                           once at the start (part of the train state, so checkpointed).
``d_input_noise``          stds > 0: Gaussian noise added to the discriminator's input and to
``d_hidden_noise``         each hidden layer's output in every training apply (D's and G's
                           losses; not in evaluation). Not in the paper's text: the authors'
                           semi-supervised code regularises D this way (MNIST: 0.3 on the
                           input, 0.5 on the hidden layers). Each apply draws its own noise,
                           from ``fold_in(rng, step)`` and, under ``pmap``, the replica
                           index: a pmap run then differs from a jit run by its noise draws
                           (its replicas stay identical). MemoryGAN: the queries the memory
                           reads and writes are those of the noisy network.
=========================  ==================================================================
"""

from __future__ import annotations

from typing import Optional, Sequence

import jax
import jax.numpy as jnp

from mgan_jax.gans import losses


def defaults() -> dict:
  """The fields of ``config.improved``, every technique off."""
  return dict(feature_matching='', minibatch_kernels=0, minibatch_kernel_dim=5,
              historical_averaging=0.0, label_smoothing=1.0, virtual_batch_norm=0,
              d_input_noise=0.0, d_hidden_noise=0.0)


def options(config) -> dict:
  """``config.improved`` with the defaults of fields it lacks (configs made before it)."""
  return {**defaults(), **dict(config.get('improved', {}) or {})}


def check(config, layers: Optional[Sequence[str]] = None) -> dict:
  """Refuses values no run can use, in one line that names the field; returns the options.

  ``layers``: the discriminator's layer names, to check ``feature_matching`` against.
  """
  opts = options(config)
  unknown = sorted(set(opts) - set(defaults()))
  if unknown:
    raise ValueError(f'unknown field(s) improved.{", improved.".join(unknown)}; known: '
                     f'{", ".join(sorted(defaults()))}')
  if opts['minibatch_kernels'] < 0:
    raise ValueError(f'improved.minibatch_kernels must be 0 (off) or more, got '
                     f'{opts["minibatch_kernels"]}')
  if opts['minibatch_kernels'] > 0 and opts['minibatch_kernel_dim'] <= 0:
    raise ValueError(f'improved.minibatch_kernel_dim must be at least 1, got '
                     f'{opts["minibatch_kernel_dim"]}')
  weight = opts['historical_averaging']
  if not weight >= 0:
    raise ValueError(f'improved.historical_averaging must be 0 (off) or more, got {weight}')
  alpha = opts['label_smoothing']
  if not 0 < alpha <= 1:
    raise ValueError(f'improved.label_smoothing (the real target) must be in (0, 1], '
                     f'got {alpha}')
  if alpha < 1 and config.loss == 'updown':
    raise ValueError('improved.label_smoothing needs a cross-entropy loss; loss=updown has '
                     'no targets to smooth')
  if opts['virtual_batch_norm'] < 0:
    raise ValueError(f'improved.virtual_batch_norm (the reference batch size) must be 0 '
                     f'(off) or more, got {opts["virtual_batch_norm"]}')
  for name in ('d_input_noise', 'd_hidden_noise'):
    if not opts[name] >= 0:
      raise ValueError(f'improved.{name} (a standard deviation) must be 0 (off) or more, '
                       f'got {opts[name]}')
  layer = opts['feature_matching']
  if layer and layers is not None and layer not in layers:
    raise ValueError(f'improved.feature_matching={layer!r} is not a layer of this '
                     f'discriminator; its layers: {", ".join(layers)}')
  return opts


def feature_matching_loss(f_real: jax.Array, f_fake: jax.Array,
                          axis_name: Optional[str] = None) -> jax.Array:
  """``||mean_i f(x_i) - mean_i f(G(z_i))||^2`` over the global batch (features flattened).

  Under ``pmap`` each replica holds an equal share of the batch, so the mean of the
  replicas' means is the global mean.
  """
  def batch_mean(f):
    m = jnp.mean(f.reshape(f.shape[0], -1), axis=0)
    return m if axis_name is None else jax.lax.pmean(m, axis_name)
  return jnp.sum(jnp.square(jax.lax.stop_gradient(batch_mean(f_real)) - batch_mean(f_fake)))


def historical_penalty(params, average) -> jax.Array:
  """``||theta - theta_bar||^2`` over every leaf (``theta_bar`` held constant)."""
  leaves = jax.tree.leaves(jax.tree.map(
      lambda p, a: jnp.sum(jnp.square(p - jax.lax.stop_gradient(a))), params, average))
  return sum(leaves, jnp.zeros((), jnp.float32))


def update_average(average, params, step: jax.Array):
  """The running mean of the parameters after ``step`` + 1 updates: ``average`` is the mean
  of theta_0 .. theta_step; the result adds theta_{step+1} = ``params``."""
  weight = 1.0 / (step.astype(jnp.float32) + 2.0)
  return jax.tree.map(lambda a, p: a + weight * (p - a), average, params)


def smoothed_d_loss(real: losses.DOutput, fake: losses.DOutput, kind: str,
                    real_target: float) -> jax.Array:
  """The discriminator loss with one-sided label smoothing (``real_target`` < 1)."""
  loss = losses.discriminator_loss(real, fake, kind)
  if real_target == 1.0:
    return loss
  return loss + (1.0 - real_target) * (jnp.mean(real.log_prob) - jnp.mean(real.log_not))
