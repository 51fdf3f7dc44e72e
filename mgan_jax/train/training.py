"""The train state and the one train step of every model (SPEC section 4).

One step is: a discriminator update on real and generated images (D's output comes from the
model's head, :mod:`mgan_jax.gans`: a logit for DCGAN, a memory read for MemoryGAN), the
head's update (MemoryGAN: the memory write with this step's real (y=1) and fake (y=0)
queries), then a generator update with fresh z and conditioning. :func:`make_train_step`
returns it ``pmap``-ed over the local devices, or jitted for one device; both compute the
same thing for the same global batch: batch-norm statistics, noise and slot samples are
those of the global batch.
"""

import dataclasses
import functools
from typing import Any, Callable, Optional

import chex
import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import optax

from mgan_jax import gans
from mgan_jax.gans import improved, losses
from mgan_jax import memory as mm
from mgan_jax.nets import models
from mgan_jax.nets.layers import NOISE_RNG
from mgan_jax.train import sampling

AXIS = 'batch'
NOISE_TAG = 0x6E6F6973  # folded into the step's key for the discriminator's noise keys


@flax.struct.dataclass
class TrainState:
  """Everything a step reads and writes. ``memory`` is the head's non-gradient state (the
  memory of MemoryGAN; None for heads without one): the name is kept so that checkpoints
  of earlier versions restore."""

  step: jax.Array
  g_params: Any
  g_stats: Any
  g_opt: Any
  d_params: Any
  d_stats: Any
  d_opt: Any
  memory: Optional[mm.Memory]
  # What the Improved-GAN techniques keep (mgan_jax.gans.improved), None when they keep
  # nothing: 'g_average'/'d_average' (historical averaging), 'vbn_reference' (the generator
  # inputs of virtual batch norm's reference batch).
  extras: Optional[dict] = None

  def without_extras(self) -> 'StateBeforeExtras':
    """This state in the structure of checkpoints saved before ``extras`` existed."""
    return StateBeforeExtras(**{f.name: getattr(self, f.name)
                                for f in dataclasses.fields(StateBeforeExtras)})


@flax.struct.dataclass
class StateBeforeExtras:
  """:class:`TrainState` as checkpoints saved before its ``extras`` field hold it."""

  step: jax.Array
  g_params: Any
  g_stats: Any
  g_opt: Any
  d_params: Any
  d_stats: Any
  d_opt: Any
  memory: Optional[mm.Memory]

  def with_extras(self, extras) -> TrainState:
    return TrainState(**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)},
                      extras=extras)


@dataclasses.dataclass(frozen=True)
class Setup:
  """The static parts of a run, made once from the config: modules, optimisers, shapes."""

  config: ml_collections.ConfigDict
  head: Any                   # mgan_jax.gans.Head, bound to the step's device layout
  memory_config: Optional[mm.MemoryConfig]
  d_train: Any
  g_train: Any
  d_eval: Any
  g_eval: Any
  d_tx: optax.GradientTransformation
  g_tx: optax.GradientTransformation
  image_shape: tuple
  z_dim: int
  key_dim: int
  memory_sharded: bool = False
  improved: Optional[dict] = None   # config.improved with its defaults (gans.improved)

  @property
  def uses_memory(self) -> bool:
    return self.memory_config is not None

  @property
  def generator_input_dim(self) -> int:
    return self.z_dim + self.head.cond_dim()


def make_optimizer(optim, num_steps: int, learning_rate: float) -> optax.GradientTransformation:
  if optim.lr_decay == 'linear':
    lr = optax.linear_schedule(learning_rate, 0.0, max(num_steps, 1))
  elif optim.lr_decay == 'none':
    lr = learning_rate
  else:
    raise ValueError(f"optim.lr_decay must be 'none' or 'linear', got {optim.lr_decay!r}")
  return optax.adam(lr, b1=optim.b1, b2=optim.b2)


def check_run_config(config) -> None:
  """Refuses, with a message that names the field, values no run can use: counts and
  intervals below 1, negative sizes, learning rates that are not positive, Adam betas outside
  [0, 1). (An infinite learning rate is let through: the non-finite-loss stop reports it.)"""
  def need(ok, message):
    if not ok:
      raise ValueError(message)

  at_least_one = ('num_steps', 'batch_size', 'log_every', 'sample_every', 'checkpoint_every',
                  'keep_checkpoints', 'num_samples', 'slot_grid_rows', 'slot_grid_cols')
  at_least_zero = ('eval_every', 'eval_num_samples', 'eval_reference_size', 'profile_steps',
                   'profile_start_after', 'first_sample_step', 'health_windows',
                   'checkpoint_minutes', 'num_devices')
  for name in at_least_one:
    value = config.get(name, 1)
    need(value >= 1, f'{name} must be at least 1, got {value}')
  for name in at_least_zero:
    value = config.get(name, 0)
    need(value >= 0, f'{name} must be 0 or more, got {value}')
  lr = config.optim.learning_rate
  need(lr > 0, f'optim.learning_rate must be > 0, got {lr}')
  g_lr = config.optim.get('g_learning_rate', -1.0)
  need(g_lr != 0 and g_lr == g_lr,
       f'optim.g_learning_rate must be > 0 (or < 0: the same as learning_rate), got {g_lr}')
  for name in ('b1', 'b2'):
    value = config.optim[name]
    need(0.0 <= value < 1.0, f'optim.{name} must be in [0, 1), got {value}')
  need(config.mi_weight >= 0, f'mi_weight must be 0 or more, got {config.mi_weight}')
  hidden_norm = config.model.get('encoder_hidden_norm', 'bn')
  need(hidden_norm in ('bn', 'ln', 'wn', 'none'),
       f"model.encoder_hidden_norm must be one of bn, ln, wn, none; got {hidden_norm!r}")
  need(hidden_norm == 'bn' or config.model.encoder == 'conv',
       f'model.encoder_hidden_norm={hidden_norm!r} applies to the conv encoder only '
       f'(model.encoder={config.model.encoder!r})')
  for name, valid in (('mi_form', ('squared', 'cosine', 'posterior')),
                      ('mi_networks', ('both', 'generator'))):
    value = config.get(name, valid[0])
    need(value in valid, f'{name} must be one of {", ".join(valid)}; got {value!r}')
  sampling.check_image_range(config.data.image_range)


def make_setup(config, num_replicas: int) -> Setup:
  """Validates the config's hyperparameters (before anything compiles) and builds the run.

  ``num_replicas`` is the number of devices the global batch is split over (1: plain jit).
  """
  losses.check_loss(config.loss)
  check_run_config(config)
  batch = config.batch_size
  if batch < 1 or batch % num_replicas:
    raise ValueError(f'batch_size={batch} does not split over {num_replicas} devices; use a '
                     f'multiple of {num_replicas}')
  sharded = bool(config.get('memory_sharded', False))
  if sharded and (num_replicas < 2 or jax.process_count() > 1):
    raise ValueError('memory_sharded=True splits the memory over the devices of one host: '
                     f'needs 2 or more local devices and one host (have {num_replicas} '
                     f'replicas, {jax.process_count()} hosts)')
  # The head validates its own hyperparameters (MemoryConfig: k <= N and the like).
  head = gans.make_head(config, AXIS if num_replicas > 1 else None, sharded)
  head.validate(config, num_replicas)
  opts = improved.check(config)
  reference = opts['virtual_batch_norm']
  memory_config = getattr(head, 'config', None)
  axis = AXIS if num_replicas > 1 else None
  key_dim = config.model.key_dim
  build = functools.partial(
      models.build_models, config.model, key_dim=key_dim, num_logits=head.num_logits(),
      minibatch_kernels=opts['minibatch_kernels'],
      minibatch_kernel_dim=opts['minibatch_kernel_dim'],
      generator_norm=f'vbn:{reference}' if reference else None,
      num_generators=head.num_generators(),
      share_layers=bool((config.get('madgan') or {}).get('share_layers', False)),
      generator_stacking=(config.get('madgan') or {}).get('stacking', 'vmap'),
      input_noise=opts['d_input_noise'], hidden_noise=opts['d_hidden_noise'])
  d_train, g_train = build(train=True, bn_axis_name=axis)
  d_eval, g_eval = build(train=False)
  data = config.data
  d_layers = models.layer_names(d_eval, data.shape)
  improved.check(config, d_layers)
  phi = head.similarity_layer()
  if phi and phi != 'generator' and phi not in d_layers:
    raise ValueError(f'madgan.similarity_layer={phi!r} is not a layer of this discriminator; '
                     f"its layers: {', '.join(d_layers)} (or 'generator': G's output)")
  g_lr = config.optim.get('g_learning_rate', -1.0)
  g_lr = config.optim.learning_rate if g_lr < 0 else g_lr
  return Setup(
      config=config, head=head, memory_config=memory_config, d_train=d_train, g_train=g_train,
      d_eval=d_eval, g_eval=g_eval,
      d_tx=make_optimizer(config.optim, config.num_steps, config.optim.learning_rate),
      g_tx=make_optimizer(config.optim, config.num_steps, g_lr),
      image_shape=tuple(data.shape), z_dim=config.model.z_dim, key_dim=key_dim,
      memory_sharded=sharded, improved=opts)


_INIT_FNS: dict = {}  # id(setup) -> (setup, its jitted initialisation); the newest 32


def init_state(setup: Setup, rng: jax.Array) -> TrainState:
  """A fresh state (one copy, unreplicated), made by one compiled function: run op by op,
  the networks' initialisation compiles each layer's operations on its own (about 20 s
  for the tiny MAD-GAN of the tests on this CPU, against a few seconds compiled whole).
  The function is traced and compiled once per setup (a setup holds no arrays, so
  keeping the newest few alive costs little)."""
  if id(setup) not in _INIT_FNS:
    while len(_INIT_FNS) >= 32:
      _INIT_FNS.pop(next(iter(_INIT_FNS)))
    _INIT_FNS[id(setup)] = (setup, jax.jit(functools.partial(_init_state, setup)))
  return _INIT_FNS[id(setup)][1](rng)


def abstract_state(setup: Setup) -> TrainState:
  """The shapes and dtypes of :func:`init_state`'s state, computing nothing: the target of a
  checkpoint restore."""
  return jax.eval_shape(functools.partial(_init_state, setup), jax.random.PRNGKey(0))


def _init_state(setup: Setup, rng: jax.Array) -> TrainState:
  k_d, k_g, k_m, k_ref = jax.random.split(rng, 4)
  x = jnp.zeros((2,) + setup.image_shape, jnp.float32)
  memory = setup.head.init_state(k_m)
  extras = {}
  reference = setup.improved['virtual_batch_norm'] if setup.improved else 0
  if reference:
    # Virtual batch norm's reference batch: generator inputs drawn once, with the head's
    # conditioning from its initial state.
    extras['vbn_reference'] = sampling.generator_inputs(setup, memory, k_ref, reference)[0]
  z = jnp.zeros((2 * setup.head.num_generators(), setup.generator_input_dim), jnp.float32)
  d_vars = setup.d_eval.init(k_d, x)
  g_vars = setup.g_eval.init(k_g, _with_reference(z, extras))
  d_params, g_params = d_vars['params'], g_vars['params']
  if setup.improved and setup.improved['historical_averaging'] > 0:
    # Copies: the step donates the state, and one buffer cannot be donated twice.
    extras['g_average'], extras['d_average'] = jax.tree.map(jnp.copy, (g_params, d_params))
  return TrainState(
      step=jnp.zeros((), jnp.int32),
      g_params=g_params, g_stats=g_vars.get('batch_stats', {}),
      g_opt=setup.g_tx.init(g_params),
      d_params=d_params, d_stats=d_vars.get('batch_stats', {}),
      d_opt=setup.d_tx.init(d_params),
      memory=memory, extras=extras or None,
  )


def _with_reference(g_in, extras):
  """The generator's input with virtual batch norm's reference rows first (if any)."""
  if not extras or 'vbn_reference' not in extras:
    return g_in
  return jnp.concatenate([extras['vbn_reference'].astype(g_in.dtype), g_in])


def apply_generator(module, params, stats, g_in, extras, mutable: bool):
  """``G(g_in)`` and the new batch statistics; with virtual batch norm, the reference rows
  go through the network first and are dropped from the output."""
  out, stats = _apply(module, params, stats, _with_reference(g_in, extras), mutable)
  if extras and 'vbn_reference' in extras:
    out = out[extras['vbn_reference'].shape[0]:]
  return out, stats


def _apply(module, params, stats, x, mutable: bool, rngs=None):
  variables = {'params': params, 'batch_stats': stats} if stats else {'params': params}
  if mutable and stats:
    out, new = module.apply(variables, x, mutable=['batch_stats'], rngs=rngs)
    return out, new['batch_stats']
  return module.apply(variables, x, rngs=rngs), stats


def _apply_with_layers(module, params, stats, x, layers, rngs=None):
  """``(module(x), new batch statistics, {name: the output of that layer})``."""
  variables = {'params': params, 'batch_stats': stats} if stats else {'params': params}
  if not layers:
    out, stats = _apply(module, params, stats, x, True, rngs)
    return out, stats, {}
  out, new = module.apply(variables, x, mutable=['batch_stats', 'intermediates'], rngs=rngs)
  return out, new.get('batch_stats', stats), {
      name: models.sown_layer(new['intermediates'], name) for name in layers}


def _rows(a, b):
  """The rows of ``a`` then ``b`` (None when the network has no such output)."""
  return None if a is None else jnp.concatenate([a, b])


def make_train_step(setup: Setup, num_replicas: int) -> Callable:
  """``step(state, images, rng) -> (state, metrics)``, pmap-ed or jitted, state donated.

  A head that needs labels (the semi-supervised K+1 discriminator) takes a fourth argument,
  ``(labelled images uint8, int labels)``, split over the devices like ``images``.

  ``images``: uint8 [num_replicas, B / num_replicas, H, W, C] under pmap, [B, H, W, C]
  under jit. ``rng``: the run's base key; the step derives its randomness with
  ``fold_in(rng, state.step)``, so a resumed run needs no saved key.
  """
  config = setup.config
  head = setup.head
  axis = AXIS if num_replicas > 1 else None
  batch = config.batch_size
  local = batch // num_replicas
  kind = config.loss
  opts = setup.improved or improved.defaults()
  fm_layer = opts['feature_matching']
  phi_layer = head.similarity_layer()  # MAD-GAN-Sim's phi: a D layer, or 'generator'
  g_layers = tuple(sorted({name for name in (fm_layer, phi_layer)
                           if name and name != 'generator'}))
  hist_weight = opts['historical_averaging']
  real_target = opts['label_smoothing']
  noisy = opts['d_input_noise'] > 0 or opts['d_hidden_noise'] > 0

  def mean(x):
    return jax.lax.pmean(x, axis) if axis else x

  def this_replica(x):
    """The local slice of an array drawn for the whole global batch."""
    if x is None or axis is None:
      return x
    start = jax.lax.axis_index(axis) * local
    return jax.lax.dynamic_slice_in_dim(x, start, local, axis=0)

  def generate(g_params, g_stats, head_state, extras, rng):
    g_in, cond = sampling.generator_inputs(setup, head_state, rng, batch)
    g_in, cond = this_replica(g_in), this_replica(cond)
    chex.assert_shape(g_in, (local, setup.generator_input_dim))
    fake, g_stats = apply_generator(setup.g_train, g_params, g_stats, g_in, extras, True)
    chex.assert_shape(fake, (local,) + setup.image_shape)
    return fake, g_stats, cond

  labelled_local = (config.semisup.labelled_batch // num_replicas
                    if head.needs_labels() else 0)
  unsupervised_weight = getattr(head, 'unsupervised_weight', 1.0)

  def step(state: TrainState, images: jax.Array, rng: jax.Array, labelled=None):
    chex.assert_shape(images, (local,) + setup.image_shape)
    if head.needs_labels():
      x_lab, y_lab = labelled
      chex.assert_shape(x_lab, (labelled_local,) + setup.image_shape)
      chex.assert_shape(y_lab, (labelled_local,))
      x_lab = sampling.preprocess(x_lab, config.data.image_range)
    rng = jax.random.fold_in(rng, state.step)
    k_d, k_g, k_flip = jax.random.split(rng, 3)
    # The discriminator's noise (improved.d_*_noise): a key per apply, per replica.
    k_noise = jax.random.fold_in(rng, NOISE_TAG)
    if axis:
      k_noise = jax.random.fold_in(k_noise, jax.lax.axis_index(axis))

    def noise(i):
      return {NOISE_RNG: jax.random.fold_in(k_noise, i)} if noisy else None
    x_real = sampling.preprocess(images, config.data.image_range)
    if config.data.random_flip:
      flip = this_replica(jax.random.bernoulli(k_flip, 0.5, (batch,)))
      x_real = jnp.where(flip[:, None, None, None], x_real[:, :, ::-1], x_real)

    # --- Discriminator update: one head output over the real then the fake rows. ---
    extras = state.extras
    fake, g_stats, cond = generate(state.g_params, state.g_stats, state.memory, extras, k_d)
    fake = jax.lax.stop_gradient(fake)

    def history(params, name):
      if hist_weight <= 0:
        return jnp.zeros((), jnp.float32)
      return hist_weight * improved.historical_penalty(params, extras[name])

    def d_loss_fn(d_params):
      # D's batch-norm running averages follow the real images only: they serve D's
      # inference (the K+1 classifier's test error), which sees real images. Every apply in
      # training normalises with its own batch's statistics.
      (f_real, l_real), stats = _apply(setup.d_train, d_params, state.d_stats, x_real, True,
                                       noise(0))
      (f_fake, l_fake), _ = _apply(setup.d_train, d_params, stats, fake, True, noise(1))
      out, head_aux = head.d_outputs(state.memory, _rows(f_real, f_fake), _rows(l_real, l_fake))
      real, fake_out = jax.tree.map(lambda x: x[:local], out), jax.tree.map(lambda x: x[local:],
                                                                            out)
      penalty = head.penalty(state.memory, f_fake, cond, 'd') + history(d_params, 'd_average')
      loss = head.discriminator_loss(real, fake_out, head_aux, kind, real_target)
      loss = unsupervised_weight * loss + penalty
      label_metrics = {}
      if head.needs_labels():  # the supervised part, on the labelled batch
        (_, l_lab), _ = _apply(setup.d_train, d_params, stats, x_lab, True, noise(2))
        supervised, label_metrics = head.labelled_loss(l_lab, y_lab)
        loss = loss + supervised
        label_metrics['semisup/supervised_loss'] = supervised
      return loss, (stats, head_aux, real.prob, fake_out.prob, penalty, label_metrics)

    (d_loss, aux), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(state.d_params)
    d_stats, head_aux, d_real, d_fake, d_penalty, label_metrics = aux
    d_grads = mean(d_grads)
    updates, d_opt = setup.d_tx.update(d_grads, state.d_opt, state.d_params)
    d_params = optax.apply_updates(state.d_params, updates)

    # --- The head's update (MemoryGAN: the memory write with the D step's queries). ---
    head_state, head_metrics = head.update(state.memory, head_aux, 2)

    # --- Generator update, with fresh z and conditioning from the updated head. ---
    if fm_layer:  # the real images' layer output, with the updated discriminator
      _, _, layer_real = _apply_with_layers(setup.d_train, d_params, d_stats, x_real,
                                            (fm_layer,), noise(3))

    def g_loss_fn(g_params):
      fake, stats, cond = generate(g_params, g_stats, head_state, extras, k_g)
      (f_fake, l_fake), _, layer_fake = _apply_with_layers(setup.d_train, d_params, d_stats,
                                                           fake, g_layers, noise(4))
      out, aux = head.d_outputs(head_state, f_fake, l_fake)
      penalty = head.penalty(head_state, f_fake, cond, 'g') + history(g_params, 'g_average')
      if fm_layer:
        adversarial = improved.feature_matching_loss(layer_real[fm_layer],
                                                     layer_fake[fm_layer], axis)
      else:
        adversarial = losses.generator_loss(out, kind)
      phi = fake if phi_layer == 'generator' else layer_fake.get(phi_layer)
      extra, extra_metrics = head.generator_extra(out, aux, phi)
      return adversarial + penalty + extra, (stats, aux, out.prob, penalty, extra_metrics)

    (g_loss, aux), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(state.g_params)
    g_stats, g_head_aux, g_fake, g_penalty, extra_metrics = aux
    g_grads = mean(g_grads)
    updates, g_opt = setup.g_tx.update(g_grads, state.g_opt, state.g_params)
    g_params = optax.apply_updates(state.g_params, updates)

    if config.memory_write_in_g_step:
      # The reference code's extra write: the G step's fake queries, label 0.
      head_state, _ = head.update(head_state, g_head_aux, 1)

    metrics = {
        'd_loss': mean(d_loss), 'g_loss': mean(g_loss),
        'd_real': mean(jnp.mean(d_real)), 'd_fake': mean(jnp.mean(d_fake)),
        'g_fake': mean(jnp.mean(g_fake)), 'penalty_d': mean(d_penalty),
        'penalty_g': mean(g_penalty),
        'd_grad_norm': optax.tree.norm(d_grads), 'g_grad_norm': optax.tree.norm(g_grads),
        **head_metrics, **head.output_metrics(g_head_aux),
        **{k: mean(v) for k, v in label_metrics.items()},
        **{k: mean(v) for k, v in extra_metrics.items()},
    }
    if hist_weight > 0:
      extras = dict(extras,
                    g_average=improved.update_average(extras['g_average'], g_params, state.step),
                    d_average=improved.update_average(extras['d_average'], d_params, state.step))
    new_state = TrainState(step=state.step + 1, g_params=g_params, g_stats=g_stats,
                           g_opt=g_opt, d_params=d_params, d_stats=d_stats, d_opt=d_opt,
                           memory=head_state, extras=extras)
    return new_state, metrics

  if axis is None:
    return jax.jit(step, donate_argnums=0)
  if head.needs_labels():  # step(state, images, rng, (labelled images, labels))
    return jax.pmap(step, axis_name=AXIS, in_axes=(0, 0, None, 0), donate_argnums=0)
  return jax.pmap(step, axis_name=AXIS, in_axes=(0, 0, None), donate_argnums=0)


def make_generate(setup: Setup, batch_stats_mode: str = 'batch') -> Callable:
  """``generate(state, g_in) -> images`` (jitted, unreplicated state, float images).

  ``batch_stats_mode='batch'`` normalises with the statistics of the batch being generated,
  as the reference code samples (its generator runs in training mode); 'running' uses the
  running averages. Neither changes the state.
  """
  if batch_stats_mode not in ('batch', 'running'):
    raise ValueError(f"sample batch_stats_mode must be 'batch' or 'running', "
                     f'got {batch_stats_mode!r}')
  module = setup.g_train if batch_stats_mode == 'batch' else setup.g_eval
  if batch_stats_mode == 'batch' and setup.g_train.bn_axis_name is not None:
    module = module.clone(bn_axis_name=None)

  @jax.jit
  def generate(state: TrainState, g_in: jax.Array):
    out, _ = apply_generator(module, state.g_params, state.g_stats, g_in, state.extras,
                             batch_stats_mode == 'batch')
    return out

  return generate
