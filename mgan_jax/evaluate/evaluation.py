"""Evaluation of a generator state: scores with their protocol, and the evaluation pictures.

One :class:`Evaluator` per run, built from the run's config; it loads what the data set's
scores need once (the feature network and the reference features) and then scores any
state of that run: ``evaluator(state, step) -> (scores, protocol, pictures)``. Used by
``experiments.evaluate`` (a checkpoint) and by the trainer (every ``config.eval_every``
steps, logged to TensorBoard).

* Fashion-MNIST: the project's classifier (:mod:`mgan_jax.evaluate.classifier`) gives the features
  for FID, KID, precision/recall and density/coverage against the test split, and the
  classifier score; the structural-discontinuity score interpolates generator inputs
  between samples of different classes and counts off-manifold images.
* 2D mixtures: modes covered, high-quality share and reverse KL (:mod:`mgan_jax.data.toy`).
* Other data sets: refused with a message (:class:`EvaluationUnavailable`) until their
  feature network is available.
"""

import dataclasses
import json
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

from mgan_jax import data
from mgan_jax import memory as mm
from mgan_jax.data import toy
from mgan_jax.evaluate import classifier, inception, metrics
from mgan_jax.nets import layers
from mgan_jax.train import runs, sampling, summary, training

GENERATOR_BATCH = 500
BN_STAT_IMAGES = 5000  # training images for the K+1 classifier's batch-norm statistics
SLOT_USAGE_IMAGES = 5000  # test images that rank the memory's slots by use


class EvaluationUnavailable(ValueError):
  """The run's data set has no evaluation protocol in mgan_jax (yet)."""


INCEPTION_DATA = ('cifar10', 'celeba', 'chairs')

# The evaluation protocols by ``config.eval_protocol``: what scores a run's samples.
PROTOCOLS = {
    'fashion': 'the project\'s Fashion-MNIST classifier: FID/KID/PR/DC in its features, '
               'classifier score, structural discontinuity, slot purity',
    'mnist': 'the project\'s MNIST classifier: as fashion',
    'inception': 'the FID Inception-v3: FID/KID/PR/DC on pool3, Inception Score',
    'mixture': '2D mixtures: modes covered, high-quality share, reverse KL',
    'stacked_mnist': 'the MNIST classifier on each channel: modes of 1,000, KL',
    'none': 'no evaluation',
}


def _guess(config) -> str:
  """The protocol of a config without ``eval_protocol`` (runs written before it existed)."""
  if config.data.source == 'mixture':
    return 'mixture'
  if config.data.source == 'stacked_mnist':
    return 'stacked_mnist'
  if config.data.name == 'fashion' or config.data.get('tfds_name', '') == 'fashion_mnist':
    return 'fashion'
  if config.data.name == 'mnist' and tuple(config.data.shape) == (28, 28, 1):
    return 'mnist'
  if config.data.name in INCEPTION_DATA:
    return 'inception'
  return 'none'


def supported(config) -> Optional[str]:
  """The config's evaluation protocol (a key of :data:`PROTOCOLS`), or None for 'none'.
  Raises ValueError for a name that is not a protocol."""
  name = config.get('eval_protocol', 'auto')
  if name == 'auto':
    name = _guess(config)
  if name not in PROTOCOLS:
    raise ValueError(f'eval_protocol must be one of {", ".join(PROTOCOLS)} or auto, got '
                     f'{name!r}')
  return None if name == 'none' else name


def generator_batches(setup: training.Setup, generate, state, num: int, rng: jax.Array):
  """``(outputs [num, ...], inputs [num, D], slots [num] or None)``: ``num`` samples drawn
  as in training (z ~ U(-1, 1), slots ~ the real-slot histogram), in batches of 500.

  With MAD-GAN's k generators (row r of a batch: generator r mod k) a batch holds a multiple
  of k rows: 500 rounded down, the last batch rounded up and its extra rows dropped."""
  outputs, inputs, slots = [], [], []
  k = setup.head.num_generators()
  batch = max(GENERATOR_BATCH // k, 1) * k
  for i, start in enumerate(range(0, num, batch)):
    size = min(batch, num - start)
    k_z, k_c = jax.random.split(jax.random.fold_in(rng, i))
    z = sampling.draw_z(k_z, -(-size // k) * k, setup.z_dim)
    if state.memory is not None:
      idx, keys = mm.sample_keys(state.memory, k_c, size)
      g_in = jnp.concatenate([z, keys], axis=1)
      slots.append(np.asarray(idx))
    else:
      g_in = z
    outputs.append(np.asarray(generate(state, g_in))[:size])
    inputs.append(np.asarray(g_in)[:size])
  return (np.concatenate(outputs), np.concatenate(inputs),
          np.concatenate(slots) if slots else None)


def interpolation_discontinuity(generate_fn, classify, inputs: np.ndarray,
                                classes: np.ndarray, *, num_pairs: int = 200,
                                num_points: int = 8, threshold: float = 0.5, seed: int = 0):
  """The paper's structural-discontinuity claim as a number.

  Picks ``num_pairs`` pairs of generator inputs whose samples the classifier puts in
  different classes, generates ``num_points`` images evenly between them (endpoints
  excluded) on the straight line in input space, and returns ``(share, strip_inputs)``:
  the share of those in-between images whose top class probability is below ``threshold``
  (off the data manifold: the classifier cannot name them), and the inputs of the first 8
  paths with endpoints, [8 * (num_points + 2), D], for a picture.
  ``generate_fn(inputs) -> images``; ``classify(images) -> probabilities``.
  """
  rng = np.random.default_rng(seed)
  a = rng.integers(0, len(inputs), 20 * num_pairs)
  b = rng.integers(0, len(inputs), 20 * num_pairs)
  keep = classes[a] != classes[b]
  a, b = a[keep][:num_pairs], b[keep][:num_pairs]
  if len(a) == 0:
    return float('nan'), inputs[:0]
  t = np.linspace(0.0, 1.0, num_points + 2, dtype=np.float32)
  paths = (1.0 - t[None, :, None]) * inputs[a][:, None] + t[None, :, None] * inputs[b][:, None]
  inner = paths[:, 1:-1].reshape(-1, inputs.shape[1])
  probs = np.concatenate([classify(generate_fn(inner[s:s + GENERATOR_BATCH]))
                          for s in range(0, len(inner), GENERATOR_BATCH)])
  share = float(np.mean(probs.max(axis=1) < threshold))
  return share, paths[:8].reshape(-1, inputs.shape[1])


def most_used_real_slots(memory: mm.Memory, usage: Optional[np.ndarray] = None,
                         num: int = 10) -> list[int]:
  """The ``num`` most used real slots, most used first: by ``usage`` (how many real test
  images pick the slot first, :func:`mm.health.real_slot_usage`) when given, then by
  ``h v``, then by the lower index. Slots no image picks are left out when ``usage`` is
  given; slots with ``h v = 0`` always."""
  weight = np.asarray(memory.hist, np.float64) * np.asarray(memory.values)
  if usage is None:
    order = np.lexsort((np.arange(len(weight)), -weight))
    return [int(i) for i in order if weight[i] > 0][:num]
  usage = np.asarray(usage)
  order = np.lexsort((np.arange(len(weight)), -weight, -usage))
  return [int(i) for i in order if usage[i] > 0 and weight[i] > 0][:num]


_BEST_REAL_SLOT = {}  # id(setup) -> (setup, jitted function): one compile per setup


def _best_real_slot_fn(setup: training.Setup):
  if id(setup) not in _BEST_REAL_SLOT:
    while len(_BEST_REAL_SLOT) >= 32:  # the newest few setups, as training.init_state
      _BEST_REAL_SLOT.pop(next(iter(_BEST_REAL_SLOT)))

    def fn(params, stats, memory, images):
      x = sampling.preprocess(images, setup.config.data.image_range)
      variables = {'params': params, 'batch_stats': stats} if stats else {'params': params}
      queries = mm.normalize(setup.d_eval.apply(variables, x)[0])
      return mm.health.best_real_slot(memory, queries, setup.memory_config)
    _BEST_REAL_SLOT[id(setup)] = (setup, jax.jit(fn))
  return _BEST_REAL_SLOT[id(setup)][1]


def best_real_slots(setup: training.Setup, state, images: np.ndarray,
                    batch: int = GENERATOR_BATCH) -> np.ndarray:
  """Each real image's best real slot (:func:`mm.health.best_real_slot` of its query, the
  discriminator in inference mode), [n]; -1 where the memory has no real slot."""
  fn = _best_real_slot_fn(setup)
  return np.concatenate([
      np.asarray(fn(state.d_params, state.d_stats, state.memory,
                    jnp.asarray(images[i:i + batch])))
      for i in range(0, len(images), batch)])


def slots_by_use(setup: training.Setup, state, images: np.ndarray, num: int):
  """``(first [n], usage [N], slots)``: each real image's best real slot, how many images
  pick each slot, and the ``num`` real slots they pick most (:func:`most_used_real_slots`)."""
  first = best_real_slots(setup, state, images)
  usage = np.bincount(first[first >= 0], minlength=state.memory.num_slots)
  return first, usage, most_used_real_slots(state.memory, usage, num)


def slot_purity(generate_fn, classify, memory: mm.Memory, z_dim: int, *, num_slots: int = 10,
                per_slot: int = 100, seed: int = 0, slots: Optional[list[int]] = None):
  """For each of ``slots`` (default: the ``num_slots`` most used real slots by ``h v``), the
  share of ``per_slot`` samples ``G([z, K_c])`` (z ~ U(-1, 1)) in the classifier's majority
  class: 1 when a slot generates one class, ~1/10 when it ignores the slot.
  ``generate_fn`` takes all the inputs at once (the evaluation generates them in
  training-like batches, :func:`sampling.generate_in_context`). Returns
  ``(slots, purity, majority_class)`` as lists, in the order of ``slots``."""
  if slots is None:
    slots = most_used_real_slots(memory, num=num_slots)
  slots = [int(c) for c in slots]
  if not slots:
    return [], [], []
  z = np.asarray(sampling.draw_z(jax.random.PRNGKey(seed), per_slot, z_dim))
  inputs = sampling.slot_purity_inputs(memory, slots, z)
  images = generate_fn(inputs)
  classes = np.concatenate([classify(images[s:s + GENERATOR_BATCH]).argmax(1)
                            for s in range(0, len(images), GENERATOR_BATCH)])
  purity, majority = [], []
  for i in range(len(slots)):
    counts = np.bincount(classes[i * per_slot:(i + 1) * per_slot], minlength=10)
    purity.append(float(counts.max() / per_slot))
    majority.append(int(counts.argmax()))
  return slots, purity, majority


def slot_data_purity(first_slot: np.ndarray, labels: np.ndarray, slots):
  """For each slot of ``slots``, among the real images whose best real slot it is
  (``first_slot [n]``), the share of their majority label and that label: how cleanly the
  memory itself clusters the data, apart from what the generator makes of the slot.
  Returns ``(purity, majority_label)`` lists; a slot no image picks gets ``(nan, -1)``."""
  purity, majority = [], []
  num_labels = int(labels.max()) + 1 if len(labels) else 1
  for c in slots:
    counts = np.bincount(labels[first_slot == c], minlength=num_labels)
    total = counts.sum()
    purity.append(float(counts.max() / total) if total else float('nan'))
    majority.append(int(counts.argmax()) if total else -1)
  return purity, majority


def slot_histogram_image(memory: mm.Memory, num: int = 64, height: int = 96) -> np.ndarray:
  """A bar chart (uint8 RGB) of the histogram ``h`` of the ``num`` most used slots, sorted:
  real slots in blue, fake slots in red; bar heights relative to the largest."""
  hist = np.asarray(memory.hist, np.float64)
  values = np.asarray(memory.values)
  order = np.argsort(-hist, kind='stable')[:num]
  width = 4
  img = np.full((height, width * len(order) + 2, 3), 255, np.uint8)
  top = max(float(hist[order[0]]), 1e-12) if len(order) else 1.0
  for i, slot in enumerate(order):
    bar = int(round((height - 2) * hist[slot] / top))
    color = (40, 80, 200) if values[slot] == 1 else (200, 50, 40)
    img[height - 1 - bar:height - 1, 1 + i * width:i * width + width] = color
  img[height - 1, :] = 0
  return img


def make_discriminator_classifier(setup: training.Setup, stat_images: np.ndarray,
                                  batch: int = 500):
  """``classify(state, uint8 images) -> [N, K] logits`` of a discriminator with class logits,
  in inference mode.

  Its batch-norm statistics are recomputed for the evaluated parameters from
  ``stat_images`` (real training images, the unlabelled data a semi-supervised learner
  has), in batches of ``batch`` ("precise BN"): the debiased exponential average of the
  batch statistics, the running averages' own rule started from zero. The running averages
  of the checkpoint lag the parameters (momentum 0.99) and, early in a run, still hold their
  initial values; the test images never enter the statistics.
  """
  image_range = setup.config.data.image_range
  momentum = layers.BN_MOMENTUM

  @jax.jit
  def accumulate(params, stats, x):
    x = sampling.preprocess(x, image_range)
    _, new = setup.d_train.apply({'params': params, 'batch_stats': stats}, x,
                                 mutable=['batch_stats'])
    return new['batch_stats']

  @jax.jit
  def logits(params, stats, x):
    x = sampling.preprocess(x, image_range)
    variables = {'params': params, 'batch_stats': stats} if stats else {'params': params}
    return setup.d_eval.apply(variables, x)[1]

  def classify(state, images):
    stats = state.d_stats
    if jax.tree.leaves(stats):
      stats = jax.tree.map(jnp.zeros_like, stats)
      num = len(stat_images) // batch
      for i in range(num):
        stats = accumulate(state.d_params, stats, stat_images[i * batch:(i + 1) * batch])
      stats = jax.tree.map(lambda s: s / (1.0 - momentum ** num), stats)
    out = [np.asarray(logits(state.d_params, stats, images[i:i + batch]))
           for i in range(0, len(images), batch)]
    return np.concatenate(out)
  return classify


@dataclasses.dataclass
class Result:
  scores: dict[str, Any]
  protocol: dict[str, Any]
  pictures: dict[str, np.ndarray]   # name -> uint8 image


class Evaluator:
  """Scores states of one run (see the module docstring). ``num_samples`` generated samples
  (2,500 for 2D mixtures as VEEGAN/PacGAN, 10,000 for images by default)."""

  def __init__(self, config, num_samples: Optional[int] = None, seed: int = 0,
               pictures: bool = True, reference_size: Optional[int] = None,
               inception_weights: Optional[str] = None):
    self.kind = supported(config)
    if self.kind is None:
      raise EvaluationUnavailable(
          f'no evaluation protocol for data set {config.data.name!r} (eval_protocol='
          f'{config.get("eval_protocol", "auto")!r}): mgan_jax scores '
          'Fashion-MNIST and MNIST (their classifiers), CIFAR-10/CelebA/chairs '
          '(Inception-v3), Stacked MNIST (the MNIST classifier) and the 2D mixtures.')
    config = runs.single_device_config(config)
    self.config = config
    self.setup = training.make_setup(config, 1)
    self.generate = training.make_generate(self.setup, config.sample_bn_mode)
    self.seed = seed
    self.pictures = pictures
    self.test_labelled = None
    self.slot_images = self.slot_labels = None  # fashion and MNIST set them (slot purity)
    if self.setup.head.needs_labels():  # the K+1 discriminator is also a classifier
      self.test_labelled = data.load_labelled(config.data, 'test')
      train_images = data.load_labelled(config.data, 'train')[0]
      order = np.random.default_rng(0).permutation(len(train_images))[:BN_STAT_IMAGES]
      self.classify = make_discriminator_classifier(self.setup, train_images[np.sort(order)])
    self.num_samples = num_samples or {'mixture': 2500, 'stacked_mnist': 26000}.get(
        self.kind, 10000)
    if self.kind == 'mixture':
      return
    if self.kind == 'stacked_mnist':
      self.digit_apply = classifier.make_apply(classifier.load('mnist'))
      with open(classifier.asset_path('mnist').replace('.msgpack', '.json')) as f:
        info = json.load(f)
      self.digit_protocol = (f"mgan_jax MNIST classifier on each channel (test accuracy "
                             f"{info['test_accuracy']:.4f} on {info.get('test_size', '?')} "
                             f"digits; {info.get('data', 'MNIST')})")
      # The classifier's view of real stacked images: the ceiling of the scores.
      digits, labels = data.load_mnist_digits('test', config.data.get('digits', 'auto'),
                                              config.data.get('data_dir'))
      real, _ = data.stack_digits(digits, labels, reference_size or 26000, seed=1)
      self.reference_modes = self._modes(real.astype(np.float32) / 255.0)
      return
    if self.kind in ('fashion', 'mnist'):
      self.feature_apply = classifier.make_apply(classifier.load(self.kind))
      with open(classifier.asset_path(self.kind).replace('.msgpack', '.json')) as f:
        accuracy = json.load(f)['test_accuracy']
      self.feature_protocol = {
          'feature_extractor': (f'mgan_jax {self.kind} classifier (penultimate '
                                f'{classifier.FEATURE_DIM}-d ReLU features; test accuracy '
                                f'{accuracy:.4f})'),
          'reference': {'fashion': 'Fashion-MNIST', 'mnist': 'MNIST'}[self.kind] + ' test split',
          'classifier_score_splits': 10}
      batch = 500
    else:
      try:
        variables = inception.load(inception_weights)
      except FileNotFoundError as e:
        raise EvaluationUnavailable(str(e)) from None
      self.feature_apply = inception.make_apply(variables)
      self.feature_protocol = {
          'feature_extractor': ('FID Inception-v3 (pt_inception-2015-12-05 weights), pool3 '
                                '2048-d; Inception Score on its 1008-way softmax, 10 splits; '
                                'inputs resized bilinearly to 299x299, scaled to [-1, 1]'),
          'reference': f'{config.data.name} test split (or the image folder)',
          'inception_score_splits': 10}
      batch = 50
    self.feature_batch = batch
    real = data.load_images(config.data, 'test')
    if reference_size:
      real = real[:reference_size]
    self.reference_size = len(real)
    self.real_probs, self.real_feats = classifier.batched(
        self.feature_apply, real.astype(np.float32) / 255.0, batch)
    if self.setup.uses_memory and self.kind in ('fashion', 'mnist'):
      # Which slots the test data uses, and how cleanly by class (slot purity's ranking).
      count = min(SLOT_USAGE_IMAGES, len(real))
      self.slot_images = real[:count]
      if config.data.source in data.LABELLED_SOURCES:
        self.slot_labels = data.load_labelled(config.data, 'test')[1][:count]

  def _modes(self, images):
    """Mode ids 100 d_R + 10 d_G + d_B of RGB images in [0, 1], by the MNIST classifier."""
    digits = [classifier.batched(self.digit_apply, images[..., c:c + 1])[0].argmax(1)
              for c in range(3)]
    return 100 * digits[0] + 10 * digits[1] + digits[2]

  def _to_unit(self, images):
    return sampling.to_unit(images, self.config.data.image_range)

  def __call__(self, state: training.TrainState, step: int) -> Result:
    rng = jax.random.PRNGKey(self.seed)
    fake, inputs, slots = generator_batches(self.setup, self.generate, state,
                                            self.num_samples, rng)
    protocol = {'checkpoint_step': int(step), 'model': self.config.model.kind,
                'num_generated': int(len(fake)), 'seed': self.seed,
                'generator_batch_norm': self.config.sample_bn_mode,
                'generator_batch': GENERATOR_BATCH}
    pictures = {}
    if self.kind == 'mixture':
      name = self.config.data.mixture
      scores = toy.mode_statistics(fake, name)
      if self.setup.head.num_generators() > 1:
        scores.update(toy.generator_statistics(fake, name, self.setup.head.num_generators()))
      protocol.update({'benchmark': name, 'high_quality': 'within 3 sigma of the nearest mode',
                       'reverse_kl': 'KL(high-quality mode histogram || uniform)'})
      if self.pictures:
        pictures['scatter'] = toy.scatter_image(fake, name)
    elif self.kind == 'stacked_mnist':
      fake = self._to_unit(fake)
      scores = {}
      modes = self._modes(fake)
      scores['modes'], scores['kl'] = metrics.mode_coverage(modes, 1000)
      k = self.setup.head.num_generators()
      if k > 1:  # row r: generator r mod k
        scores['generator_modes'] = [int(len(np.unique(modes[i::k]))) for i in range(k)]
      scores['modes_real_test_digits'], scores['kl_real_test_digits'] = metrics.mode_coverage(
          self.reference_modes, 1000)
      protocol.update({'benchmark': 'stacked_mnist', 'num_modes': 1000,
                       'feature_extractor': self.digit_protocol,
                       'kl': 'KL(sample mode histogram || uniform over 1000)',
                       'reference': f'{len(self.reference_modes)} stacked images of test '
                                    'digits (seed 1)'})
      if self.pictures:
        pictures['samples'] = summary.image_grid(fake[:64])
        if state.memory is not None:
          pictures.update(self._slot_pictures(state))
    else:
      fake = self._to_unit(fake)
      probs, feats = classifier.batched(self.feature_apply, fake, self.feature_batch)
      scores = metrics.all_feature_metrics(self.real_feats, feats)
      protocol.update(self.feature_protocol)
      protocol.update({'reference_size': self.reference_size,
                       'kid': '100 subsets of 1000 (or all, if fewer), cubic kernel',
                       'precision_recall_k': 3, 'density_coverage_k': 5})
      name = 'inception_score' if self.kind == 'inception' else 'classifier_score'
      scores[name], scores[f'{name}_std'] = metrics.inception_score(probs, 10)
      scores[f'{name}_test_set'], _ = metrics.inception_score(self.real_probs, 10)
      strip = []
      if self.kind != 'inception':
        scores['sample_class_histogram'] = (
            np.bincount(probs.argmax(1), minlength=10) / len(probs)).round(4).tolist()

        def generate_fn(x):
          return self._to_unit(np.asarray(self.generate(state, jnp.asarray(x))))

        def classify(images):
          return classifier.batched(self.feature_apply, images)[0]

        k = self.setup.head.num_generators()
        scores['test_set_off_manifold'] = float(np.mean(self.real_probs.max(1) < 0.5))
        if k > 1:
          # MAD-GAN: a row's generator is its position (r mod k), so a straight line between
          # two inputs has no one generator; instead, which classes each generator draws.
          classes = probs.argmax(1)
          hist = [np.bincount(classes[i::k], minlength=10) / len(classes[i::k])
                  for i in range(k)]
          scores['generator_majority_class'] = [int(h.argmax()) for h in hist]
          scores['generator_majority_share'] = [round(float(h.max()), 4) for h in hist]
          protocol['generators'] = (f'{k} generators; row r of the samples is generator r '
                                    'mod k; no interpolation measure')
        else:
          share, strip = interpolation_discontinuity(generate_fn, classify, inputs,
                                                     probs.argmax(1))
          scores['interpolation_off_manifold'] = share
          protocol['interpolation'] = (
              '200 pairs of generated samples of different predicted classes; 8 images '
              'evenly between their generator inputs (endpoints excluded); off manifold = '
              'top class probability < 0.5')
        if state.memory is not None:
          scores.update(self._slot_scores(state, generate_fn, classify, protocol))
      if self.pictures:
        pictures['samples'] = summary.image_grid(fake[:64])
        if len(strip):
          pictures['interpolation'] = summary.image_grid(generate_fn(strip),
                                                         rows=len(strip) // 10)
        if state.memory is not None:
          pictures.update(self._slot_pictures(state, scores.get('slot_purity_slots')))
    if self.test_labelled is not None:
      images, labels = self.test_labelled
      logits = self.classify(state, images)
      scores['test_error'] = float(np.mean(logits.argmax(1) != labels))
      scores['test_errors'] = int(np.sum(logits.argmax(1) != labels))
      semi = self.config.semisup
      protocol['classification'] = {
          'classifier': "the discriminator's K class logits (argmax); batch norm: "
                        f'statistics of {BN_STAT_IMAGES} training images (default_rng(0)) '
                        'recomputed with the evaluated parameters',
          'split': 'test', 'test_size': int(len(labels)),
          'labels_per_class': int(semi.labels_per_class), 'label_seed': int(semi.label_seed),
          'labelled_from': 'the training split',
          'num_labelled': int(semi.labels_per_class * semi.num_classes),
          'unsupervised_weight': float(semi.unsupervised_weight)}
    if state.memory is not None:
      health = mm.diagnostics(state.memory, config=self.setup.memory_config)
      scores.update({f'memory/{k}': float(v) for k, v in health.items()})
      values = np.asarray(state.memory.values)
      used = np.bincount(slots, minlength=len(values)) if slots is not None else None
      scores['distinct_slots_sampled'] = int(np.sum(used > 0)) if used is not None else 0
      if self.pictures:
        pictures['slot_histogram'] = slot_histogram_image(state.memory)
    return Result(scores=scores, protocol=protocol, pictures=pictures)

  def _slot_scores(self, state, generate_fn, classify, protocol) -> dict:
    """Slot purity of the 10 real slots that the most test images pick first, and how
    cleanly the memory sorts those images by class (see the protocol entries)."""
    first, usage, slots = slots_by_use(self.setup, state, self.slot_images, 10)
    used, purity, majority = slot_purity(lambda x: self._generate_in_context(state, x),
                                         classify, state.memory, self.setup.z_dim,
                                         seed=self.seed, slots=slots)
    out = {'slot_purity': [round(p, 4) for p in purity],
           'slot_purity_majority_class': majority,
           'slot_purity_slots': used,
           'slot_purity_slot_images': [int(usage[c]) for c in used],
           'slots_purity_at_least_0.7': int(sum(p >= 0.7 for p in purity)),
           # Purity means something only if the slots differ: a generator that ignores its
           # slot and draws one class is pure on every slot.
           'slot_purity_distinct_classes': len(set(majority)),
           'real_slots_used_by_test_images': int(np.sum(usage > 0))}
    protocol['slot_purity'] = (
        f'the 10 real slots that the most of the first {len(first)} test images pick as '
        'their best real slot (argmax of s_i(q) over v_i = 1, the discriminator in '
        'inference mode; ties by h v, then index); 100 samples G([z, K_c]) each, '
        "z ~ U(-1, 1), generated 100 at a time (10 per slot) in batches of 500 filled up "
        "with inputs drawn as in training; purity = share of the classifier's majority class")
    if self.slot_labels is not None:
      data_purity, data_majority = slot_data_purity(first, self.slot_labels, used)
      out['slot_data_purity'] = [round(p, 4) for p in data_purity]
      out['slot_data_majority_label'] = data_majority
      out['slot_data_majority_matches_generated'] = int(
          sum(a == b for a, b in zip(data_majority, majority)))
      protocol['slot_data_purity'] = (
          'for the same slots: among the test images that pick the slot first, the share '
          'of their majority label (the memory\'s own clustering of real data); '
          'matches_generated counts slots whose majority label is the generated majority '
          'class')
    return out

  def _slot_pictures(self, state, ranked=None):
    rows, cols = self.config.slot_grid_rows, self.config.slot_grid_cols
    z = sampling.draw_z(jax.random.PRNGKey(self.seed + 1), cols, self.setup.z_dim)
    rows = min(rows, self.setup.memory_config.num_slots)
    if ranked:  # the slots slot purity scored, the most used by the test images first
      ranked = ranked[:rows]
    g_in, slots = sampling.slot_grid_inputs(state.memory, z, rows, ranked)
    images = self._generate_in_context(state, g_in)
    return {'slots': summary.image_grid(images, rows=len(slots))}

  def _generate_in_context(self, state, g_in) -> np.ndarray:
    """Images in [0, 1] of ``g_in``, generated in training-like batches (a slot's rows would
    otherwise share a batch's statistics with one another only)."""
    return self._to_unit(sampling.generate_in_context(
        self.generate, state, self.setup, g_in, jax.random.PRNGKey(self.seed + 2),
        batch=GENERATOR_BATCH))
