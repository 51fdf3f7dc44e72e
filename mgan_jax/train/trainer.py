"""The training loop: data, the pmap-ed step, logs, sample grids, checkpoints, resume.

``train_and_evaluate(config, workdir)`` is what ``python -m experiments.train`` runs.
Metrics stay on the devices between log steps (no host round trip per step); at each log
step the window is fetched at once, checked for non-finite losses step by step, averaged,
printed as one progress line and written to TensorBoard.
"""

import json
import os
import signal
import tempfile
import time
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

from mgan_jax import data as data_lib
from mgan_jax import gans
from mgan_jax import memory as mm
from mgan_jax.data import toy
from mgan_jax.evaluate import evaluation
from mgan_jax.train import checkpoints, runs, sampling, summary, training
from mgan_jax.train.loop import (DiscriminatorWatch, PeriodicAction, Profiler, Progress,
                                 StoppedBySignal, StopRequest, progress_line)


GRID_RANKING_IMAGES = 2000  # training images that rank the per-slot grid's rows by use


class NonFiniteLossError(RuntimeError):
  """A loss became NaN or infinite; the run stopped without saving the bad state."""


class ConfigError(ValueError):
  """The config asks for something impossible (found before anything compiles)."""


def maybe_initialize_distributed(config) -> None:
  """``jax.distributed.initialize()`` on multi-host TPU pod slices (or when asked).

  With ``multihost_coordinator`` set (``HOST:PORT`` of process 0), the processes are named
  by ``multihost_num_processes`` and ``multihost_process_id`` (GPU clusters, several
  processes on one machine); otherwise JAX finds them itself (TPU pod slices, SLURM).
  CPU processes exchange their collectives over gloo.
  """
  mode = config.get('multihost', 'auto')
  hosts = os.environ.get('TPU_WORKER_HOSTNAMES', '')
  if mode == 'on' or (mode == 'auto' and hosts.count(',') >= 1):
    if jax.distributed.is_initialized():
      return
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
    coordinator = config.get('multihost_coordinator', '')
    if coordinator:
      jax.distributed.initialize(coordinator_address=coordinator,
                                 num_processes=config.multihost_num_processes,
                                 process_id=config.multihost_process_id)
    else:
      jax.distributed.initialize()


def replicate(tree, num: int):
  """A leading device axis of ``num`` copies, as host arrays that pmap shards itself.

  Through the host because arrays committed to one device (e.g. restored by orbax) are
  refused by pmap, whose inputs must match its own sharding; done once per run.
  """
  return jax.tree.map(lambda x: np.broadcast_to(np.asarray(x), (num,) + np.shape(x)), tree)


def unreplicate(tree):
  """One copy of a replicated tree, on the host: each leaf's entry of the first local device.

  A copy, not a computation: ``x[0]`` of a pmap output is an XLA program over all of the
  array's devices, and with several processes (collectives over gloo) that program was seen
  to deadlock against the next cross-process collective (py-spy and gdb: process 1 in
  ``x[0]``, its devices in an all-reduce, process 0 in orbax's save barrier; 4 of 6 tries
  of the two-process test's commands). Reading one device's buffer involves no other device.
  """
  def first(x):
    if isinstance(x, jax.Array):
      return np.asarray(x.addressable_data(0))[0]
    return x[0]
  return jax.tree.map(first, tree)


def check_workdir(workdir: str) -> None:
  """Makes ``workdir`` if needed and checks that files can be written in it."""
  try:
    os.makedirs(workdir, exist_ok=True)
    with tempfile.TemporaryFile(dir=workdir):
      pass
  except OSError as e:
    raise ConfigError(f'--workdir={workdir!r} is not a directory this user can write in '
                      f'({e.strerror or e}); choose another --workdir') from None


class Trainer:
  """One run in ``workdir``; :meth:`run` trains to ``config.num_steps``."""

  def __init__(self, config, workdir: str):
    self.config = config
    self.workdir = workdir
    maybe_initialize_distributed(config)
    self.num_local = config.get('num_devices') or jax.local_device_count()
    if self.num_local > jax.local_device_count():
      raise ConfigError(f'num_devices={self.num_local} but only {jax.local_device_count()} '
                        'local devices exist')
    self.num_replicas = self.num_local * jax.process_count()
    self.pmapped = self.num_replicas > 1
    self.is_main = jax.process_index() == 0
    # Everything that can be refused is refused here, before loading data or compiling.
    try:
      self.setup = training.make_setup(config, self.num_replicas)
      evaluation.supported(config)  # a protocol name that does not exist
    except ValueError as e:
      raise ConfigError(f'{e}') from None
    check_workdir(workdir)
    self.labelled = None  # (images, labels) of the labelled examples (semi-supervised)
    try:
      if self.setup.head.needs_labels():
        # Every training image is unlabelled data; labels_per_class of each class, drawn
        # with a fixed seed, are the labelled examples.
        self.images, labels = data_lib.load_labelled(config.data, 'train')
        semi = config.semisup
        chosen = data_lib.labelled_subset(labels, semi.labels_per_class, semi.num_classes,
                                          semi.label_seed)
        self.labelled = (self.images[chosen], labels[chosen])
      else:
        self.images = data_lib.load_images(config.data, 'train')
    except ValueError as e:  # DatasetNotFoundError (a RuntimeError) passes through
      raise ConfigError(f'{e}') from None
    self.evaluator = None
    if config.get('eval_every', 0) > 0 and self.is_main:
      try:
        self.evaluator = evaluation.Evaluator(
            config, config.get('eval_num_samples') or None, pictures=False,
            reference_size=config.get('eval_reference_size') or None)
      except (evaluation.EvaluationUnavailable, FileNotFoundError) as e:
        raise ConfigError(f'eval_every={config.eval_every}: {e} Set --config.eval_every=0 '
                          'to train without evaluation.') from None

  def to_devices(self, state: training.TrainState) -> training.TrainState:
    """The host state -> the step's layout: replicated, or the memory split over devices."""
    if not self.pmapped:
      return state
    if self.setup.memory_sharded:
      return replicate(state.replace(memory=None), self.num_local).replace(
          memory=mm.shard(jax.device_get(state.memory), self.num_local))
    return replicate(state, self.num_local)

  def to_host(self, state: training.TrainState) -> training.TrainState:
    """The step's layout -> one copy of the state (the whole memory)."""
    if not self.pmapped:
      return state
    if self.setup.memory_sharded:
      return unreplicate(state.replace(memory=None)).replace(memory=mm.unshard(state.memory))
    return unreplicate(state)

  def run(self) -> dict[str, float]:
    config, setup = self.config, self.setup
    os.makedirs(self.workdir, exist_ok=True)
    rng = jax.random.PRNGKey(config.seed)
    init_rng, step_rng, sample_rng = jax.random.split(rng, 3)
    state = training.init_state(setup, init_rng)
    ckpt = checkpoints.Checkpointer(os.path.join(self.workdir, 'checkpoints'),
                                    keep=config.keep_checkpoints)
    restored = ckpt.restore_latest(state, config)
    start = 0
    if restored is not None:
      state, start, diffs = restored
      changed = ', '.join(f'{k}={b!r}' for k, _, b in diffs) or 'no config changes'
      print(f'Resuming from step {start} in {ckpt.directory} ({changed}).', flush=True)
    else:
      print(f'No checkpoint in {ckpt.directory}: training from step 0.', flush=True)
      if self.is_main:
        summary.set_aside_events(self.workdir)
    last_good = start if restored is not None else None
    if self.is_main:
      with open(os.path.join(self.workdir, 'config.json'), 'w') as f:
        f.write(config.to_json_best_effort(indent=2))

    step_fn = training.make_train_step(setup, self.num_replicas)
    generate = training.make_generate(setup, config.sample_bn_mode)
    z_fixed = sampling.draw_z(jax.random.fold_in(sample_rng, 0), config.num_samples,
                              setup.z_dim)
    host_head = gans.make_head(config)  # the head on one device, for the sample grids
    # The whole memory on one device: the per-slot grid's context and its rows' ranking.
    host_setup = (training.make_setup(runs.single_device_config(config), 1)
                  if setup.uses_memory and self.is_main else None)
    num_generators = host_head.num_generators()
    state = self.to_devices(state)
    batches = data_lib.Batches(
        self.images, config.batch_size, config.seed,
        num_devices=self.num_local if self.pmapped else None,
        process_index=jax.process_index(), process_count=jax.process_count(),
        start_step=start)
    labelled = None
    if self.labelled is not None:
      labelled = data_lib.Batches(
          self.labelled[0], config.semisup.labelled_batch, config.seed + 1,
          num_devices=self.num_local if self.pmapped else None,
          process_index=jax.process_index(), process_count=jax.process_count(),
          start_step=start, labels=self.labelled[1])
    writer = summary.SummaryWriter(self.workdir) if self.is_main else None
    if writer is not None:
      writer.start(start)
    samples_dir = os.path.join(self.workdir, 'samples')
    os.makedirs(samples_dir, exist_ok=True)

    profiler = Profiler(self.workdir, start + config.profile_start_after, config.profile_steps)
    window: list[tuple[int, Any]] = []
    watch = DiscriminatorWatch(windows=config.get('health_windows', 3))
    stop_at = None  # the step at which the watch stopped the run (stop_when_d_wins)
    progress = Progress(time.time(), start)
    last_metrics: dict[str, float] = {}
    t_start = time.time()
    print(f'Training {config.model.kind} on {config.data.name}: steps {start}->'
          f'{config.num_steps}, batch {config.batch_size} over {self.num_replicas} '
          f'device(s) ({jax.devices()[0].device_kind}), workdir {self.workdir}', flush=True)

    def flush_window(step):
      nonlocal window, last_metrics, progress, stop_at
      if not window:
        return
      host = jax.device_get([m for _, m in window])
      for (s, _), m in zip(window, host):
        values = {k: float(np.asarray(v).reshape(-1)[0]) for k, v in m.items()}
        bad = [k for k in ('d_loss', 'g_loss') if not np.isfinite(values[k])]
        if bad:
          if last_good is not None:
            where = (f'step {last_good} in {ckpt.directory}; rerunning the same command '
                     'resumes from it')
          else:
            where = f'none (no checkpoint was saved in {ckpt.directory})'
          raise NonFiniteLossError(
              f'Non-finite loss at step {s + 1} ({", ".join(f"{k}={values[k]}" for k in bad)}'
              f'). The run stopped without saving that state. Last good checkpoint: {where} '
              f'(lower the learning rate or change the seed first).')
      stacked = {k: float(np.mean([np.asarray(m[k]).reshape(-1)[0] for m in host]))
                 for k in host[0]}
      now = time.time()
      rate = progress.rate(now, step)
      won = watch.update(stacked)
      stacked['health/discriminator_won'] = float(won)
      if self.is_main:
        line = progress_line(step, config.num_steps, rate, stacked)
        if won:
          line += (f' | THE DISCRIMINATOR HAS WON ({watch.streak} log windows with D(real) > '
                   f'{1 - watch.eps:g}, D(fake) < {watch.eps:g}): the generator gets no '
                   'gradient')
        print(line, flush=True)
        writer.scalars(step, {**stacked, 'steps_per_second': rate})
        writer.flush()
      progress = Progress(now, step)
      last_metrics = stacked
      window = []
      if won and config.get('stop_when_d_wins', False):
        stop_at = step

    def write_samples(step, st):
      # Every process flushes its window; only the main one copies the state to the host
      # (unreplicate: no program on the devices' arrays, which would pair with the other
      # processes' next collective; WORKSPACE.md, "Several hosts") and generates from it.
      flush_window(step)
      if not self.is_main:
        return
      single = self.to_host(st)
      memory = single.memory
      cond = host_head.condition(memory, jax.random.fold_in(sample_rng, 1), config.num_samples)
      g_in = z_fixed if cond is None else jnp.concatenate([z_fixed, cond], axis=1)
      images = np.asarray(generate(single, g_in))
      vr = sampling.value_range(config.data.image_range)
      if config.data.source == 'mixture':  # 2D points: a scatter plot and mode statistics
        stats = toy.mode_statistics(images, config.data.mixture)
        print(f"step {step}: {stats['modes']}/{stats['num_modes']} modes, "
              f"{100 * stats['high_quality']:.1f}% high quality, reverse KL "
              f"{stats['reverse_kl']:.3f}", flush=True)
        writer.scalars(step, {f'modes/{k}': v for k, v in stats.items()})
        if num_generators > 1:
          per = toy.generator_statistics(images, config.data.mixture, num_generators)
          print(f"step {step}: modes per generator {per['generator_modes']}, modes won "
                f"{per['generator_modes_won']}", flush=True)
        picture = toy.scatter_image(images, config.data.mixture)
        summary.write_png(os.path.join(samples_dir, f'step_{step:07d}.png'), picture)
        writer.image(step, 'samples', picture)
        writer.flush()
        return
      grid = summary.image_grid(images, value_range=vr)
      summary.write_png(os.path.join(samples_dir, f'step_{step:07d}.png'), grid)
      writer.image(step, 'samples', grid)
      if memory is not None:
        # One row per real slot that the most of the first training images pick (with the
        # bounded histogram of `proposals` every real h is alike, so h v would rank by index).
        rows = min(config.slot_grid_rows, setup.memory_config.num_slots)
        ranked = evaluation.slots_by_use(host_setup, single,
                                         self.images[:GRID_RANKING_IMAGES], rows)[2] or None
        g_in, slots = sampling.slot_grid_inputs(memory, z_fixed[:config.slot_grid_cols], rows,
                                                ranked)
        images = sampling.generate_in_context(generate, single, host_setup, g_in,
                                              jax.random.fold_in(sample_rng, 2))
        slot_grid = summary.image_grid(images, rows=len(slots), value_range=vr)
        summary.write_png(os.path.join(samples_dir, f'slots_{step:07d}.png'), slot_grid)
        writer.image(step, 'samples_per_slot', slot_grid)
      if num_generators > 1:  # MAD-GAN: one row per generator, the same z in each column
        g_in = sampling.generator_grid_inputs(z_fixed[:config.slot_grid_cols], num_generators)
        rows = sampling.rows_by_generator(generate(single, g_in), num_generators)
        gen_grid = summary.image_grid(rows, rows=num_generators, value_range=vr)
        summary.write_png(os.path.join(samples_dir, f'generators_{step:07d}.png'), gen_grid)
        writer.image(step, 'samples_per_generator', gen_grid)
      writer.flush()

    def evaluate(step, st):
      flush_window(step)
      result = self.evaluator(self.to_host(st), step)
      numbers = {k: float(v) for k, v in result.scores.items()
                 if isinstance(v, (int, float)) and np.isfinite(v)}
      writer.scalars(step, {f'eval/{k}': v for k, v in numbers.items()})
      writer.flush()
      with open(os.path.join(self.workdir, 'eval_log.jsonl'), 'a') as f:
        f.write(json.dumps({'step': step, 'scores': result.scores,
                            'protocol': result.protocol}) + '\n')
      shown = ('test_error', 'fid', 'kid', 'precision', 'recall', 'classifier_score', 'modes',
               'kl', 'high_quality', 'reverse_kl', 'slots_purity_at_least_0.7',
               'slot_purity_distinct_classes', 'slot_data_majority_matches_generated',
               'memory/distinct_top20')
      shown = ', '.join(f'{k} {numbers[k]:.4g}' for k in shown if k in numbers)
      print(f'eval at step {step}: {shown}', flush=True)

    checkpoint_seconds = 60.0 * config.get('checkpoint_minutes', 0)
    if jax.process_count() > 1:
      checkpoint_seconds = 0.0  # hosts could disagree on the clock: steps only
    last_save = time.time()
    stop = StopRequest()

    def save(step, st):
      nonlocal last_good, last_save
      flush_window(step)  # never save a state whose losses were not checked
      ckpt.save(step, jax.device_get(self.to_host(st)), config)
      last_good, last_save = step, time.time()

    def save_now() -> bool:  # besides every checkpoint_every steps
      timed = checkpoint_seconds > 0 and time.time() - last_save >= checkpoint_seconds
      return timed or stop_at is not None or stop.signum is not None

    actions = [PeriodicAction(config.log_every, lambda step, st: flush_window(step))]
    actions.append(PeriodicAction(config.sample_every, write_samples,
                                  at=(config.get('first_sample_step', 0),)))
    if self.evaluator is not None:
      actions.append(PeriodicAction(config.eval_every, evaluate))
    actions.append(PeriodicAction(config.checkpoint_every, save, also=save_now))
    try:
      stop.__enter__()
      for step in range(start, config.num_steps):
        args = (state, next(batches), step_rng)
        if labelled is not None:
          args += (next(labelled),)
        profiler.before(step, step_fn, args)
        state, metrics = step_fn(*args)
        del args  # the state was donated
        window.append((step, metrics))
        done = step + 1
        profiler.after(done, state)
        for action in actions:
          action(done, state, done == config.num_steps)
        if stop.signum is not None:
          name = signal.Signals(stop.signum).name
          raise StoppedBySignal(f'{name}: stopped at step {done}; checkpoint saved in '
                                f'{ckpt.directory}; rerun the same command to resume.',
                                128 + stop.signum)
        if stop_at is not None:
          print(f'Stopped at step {done}: the discriminator has won (stop_when_d_wins=True); '
                f'checkpoint saved in {ckpt.directory}.', flush=True)
          break
    finally:
      stop.__exit__()
      batches.close()
      if labelled is not None:
        labelled.close()
      ckpt.close()
      if writer is not None:
        writer.close()
    elapsed = time.time() - t_start
    if self.is_main:
      with open(os.path.join(self.workdir, 'last_metrics.json'), 'w') as f:
        json.dump({'step': last_good if stop_at is not None else config.num_steps,
                   'seconds': elapsed, **last_metrics}, f, indent=2)
    return last_metrics


def train_and_evaluate(config, workdir: str) -> dict[str, float]:
  return Trainer(config, workdir).run()


def final_state(config, workdir: str, step: Optional[int] = None
                ) -> Optional[tuple[Any, int]]:
  """The newest good checkpoint of a run (or the one at ``step``) as ``(state, step)`` on one
  device (see :func:`mgan_jax.train.runs.restore`)."""
  return runs.restore(config, workdir, step)


available_steps = runs.available_steps
