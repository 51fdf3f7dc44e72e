"""mgan_jax.evaluate.evaluation: the interpolation score, slot purity, the pictures, and the
Evaluator on tiny runs."""

import jax
import numpy as np
import pytest

from experiments.configs import affmnist, fashion, ring8
from mgan_jax.evaluate import evaluation
from mgan_jax import memory as mm
from mgan_jax.train import sampling, training
from tests import tiny


def test_slot_purity_counts_the_majority_class_of_each_most_used_real_slot():
  # Keys are basis vectors; the "generator" returns its input; the "classifier" names the
  # key's basis index as the class, except class 9 when z0 > 0.5 (so purity < 1).
  z_dim, m = 2, 12
  keys = np.eye(m, dtype=np.float32)
  hist = np.array([5, 1, 9, 3, 7, 2, 8, 4, 6, 0.5, 0.2, 0.1], np.float32)
  values = np.array([1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1], np.int32)
  memory = mm.Memory(keys=keys, values=values, ages=np.zeros(m, np.int32), hist=hist)

  def classify(x):
    cls = np.where(x[:, 0] > 0.5, 9, np.argmax(x[:, z_dim:], axis=1))
    return np.eye(m)[cls][:, :10] + 1e-3

  slots, purity, majority = evaluation.slot_purity(lambda x: x, classify, memory, z_dim,
                                                   num_slots=4, per_slot=50, seed=3)
  assert slots == [2, 6, 4, 8]  # most used real slots; slot 3 is fake
  z = np.asarray(sampling.draw_z(jax.random.PRNGKey(3), 50, z_dim))
  share_high = np.mean(z[:, 0] > 0.5)
  want = max(share_high, 1 - share_high)
  np.testing.assert_allclose(purity, [want] * 4)
  assert majority == [2, 6, 4, 8] if share_high < 0.5 else [9] * 4


def test_most_used_real_slots_rank_by_data_usage_then_histogram_then_index():
  hist = np.array([1, 2, 2, 2, 2, 9, 2, 0], np.float32)
  values = np.array([1, 1, 1, 1, 0, 1, 1, 1], np.int32)
  memory = mm.Memory(keys=np.eye(8, dtype=np.float32), values=values,
                     ages=np.zeros(8, np.int32), hist=hist)
  # By h v alone: 5 first, then the tied h = 2 real slots by index; fake 4 and h = 0 slot 7
  # never.
  assert evaluation.most_used_real_slots(memory, num=10) == [5, 1, 2, 3, 6, 0]
  usage = np.array([4, 0, 4, 7, 9, 1, 0, 5])
  # By use: 3 (7 images), then 0 and 2 tie on 4 (2 has the larger h), 5; unused slots and
  # the fake slot 4 (9 images: usage of a fake slot cannot happen, but is ignored) are left
  # out, and so is slot 7 (h = 0: the generator never draws it).
  assert evaluation.most_used_real_slots(memory, usage, num=10) == [3, 2, 0, 5]
  assert evaluation.most_used_real_slots(memory, usage, num=2) == [3, 2]


def test_slot_data_purity_is_the_majority_label_share_per_slot():
  first = np.array([3, 3, 3, 5, 5, 1, 3, 5, 5, 5])
  labels = np.array([2, 2, 7, 1, 1, 0, 2, 4, 1, 4])
  purity, majority = evaluation.slot_data_purity(first, labels, [3, 5, 9])
  np.testing.assert_allclose(purity[:2], [3 / 4, 3 / 5])
  assert np.isnan(purity[2])
  assert majority == [2, 1, -1]


def test_slot_purity_takes_the_slots_it_is_given():
  z_dim, m = 2, 6
  memory = mm.Memory(keys=np.eye(m, dtype=np.float32), values=np.ones(m, np.int32),
                     ages=np.zeros(m, np.int32), hist=np.ones(m, np.float32))

  def classify(x):  # the key's index is the class: every slot is pure
    return np.eye(10)[np.argmax(x[:, z_dim:], axis=1)]

  slots, purity, majority = evaluation.slot_purity(lambda x: x, classify, memory, z_dim,
                                                   per_slot=20, slots=[4, 1])
  assert slots == [4, 1] and purity == [1.0, 1.0] and majority == [4, 1]


def test_interpolation_share_counts_uncertain_in_between_images():
  # "Images" are the inputs themselves; the classifier is unsure (top probability 0.4)
  # where |x0| < 0.3 and sure (0.9) elsewhere; class = sign of x0.
  def classify(x):
    unsure = np.abs(x[:, 0]) < 0.3
    top = np.where(unsure, 0.4, 0.9)
    return np.stack([top, (1.0 - top) / 2, (1.0 - top) / 2], axis=1)

  rng = np.random.default_rng(0)
  inputs = rng.uniform(-1, 1, (50, 3)).astype(np.float32)
  classes = (inputs[:, 0] > 0).astype(int)
  share, strip = evaluation.interpolation_discontinuity(
      lambda x: x, classify, inputs, classes, num_pairs=30, num_points=6, seed=1)
  # The same pairs, recomputed directly.
  pick = np.random.default_rng(1)
  a, b = pick.integers(0, 50, 600), pick.integers(0, 50, 600)
  keep = classes[a] != classes[b]
  a, b = a[keep][:30], b[keep][:30]
  t = np.linspace(0, 1, 8)[1:-1]
  x0 = (1 - t[None]) * inputs[a, 0][:, None] + t[None] * inputs[b, 0][:, None]
  assert share == pytest.approx(np.mean(np.abs(x0) < 0.3))
  assert 0 < share < 1
  assert strip.shape == (8 * 8, 3)
  np.testing.assert_allclose(strip[0], inputs[a[0]])
  np.testing.assert_allclose(strip[7], inputs[b[0]], atol=1e-6)


def test_interpolation_of_a_single_class_is_undefined():
  share, strip = evaluation.interpolation_discontinuity(
      lambda x: x, lambda x: np.ones((len(x), 1)), np.zeros((5, 2), np.float32),
      np.zeros(5, int))
  assert np.isnan(share) and len(strip) == 0


def test_slot_histogram_bars_are_sorted_and_coloured_by_label():
  hist = np.array([0.5, 4.0, 2.0, 0.0], np.float32)
  memory = mm.Memory(keys=np.zeros((4, 2), np.float32), values=np.array([1, 0, 1, 1]),
                     ages=np.zeros(4, np.int32), hist=hist)
  img = evaluation.slot_histogram_image(memory, num=3, height=42)
  assert img.shape == (42, 3 * 4 + 2, 3)
  heights = [(img[:-1, 1 + 4 * i] != 255).any(axis=1).sum() for i in range(3)]
  assert heights == [40, 20, 5]  # h = 4, 2, 0.5 relative to 4, on 40 pixels
  assert tuple(img[-2, 1]) == (200, 50, 40)   # slot 1 holds a fake
  assert tuple(img[-2, 5]) == (40, 80, 200)   # slot 2 holds a real


def _state(config):
  setup = training.make_setup(config, 1)
  return training.init_state(setup, jax.random.PRNGKey(0))


def test_generate_in_context_keeps_order_and_fills_each_batch_from_the_prior():
  # A "generator" that normalises with its batch (x minus the batch mean, as batch norm in
  # training mode would): rows of one slot alone lose their shared key; in context they keep
  # it. Each output is checked against the batch the docstring describes, rebuilt here.
  config = tiny.shrink(fashion.get_config())
  setup = training.make_setup(config, 1)
  state = _state(config)
  calls = []

  def generate(st, g_in):
    calls.append(np.asarray(g_in))
    return g_in - g_in.mean(axis=0, keepdims=True)

  key = np.asarray(state.memory.keys)[3]
  z = np.asarray(sampling.draw_z(jax.random.PRNGKey(1), 7, setup.z_dim))
  inputs = np.concatenate([z, np.broadcast_to(key, (7, key.shape[0]))], axis=1)
  rng = jax.random.PRNGKey(5)
  out = sampling.generate_in_context(generate, state, setup, inputs, rng, per_batch=3, batch=20)
  assert out.shape == inputs.shape and len(calls) == 3      # 7 rows, 3 at a time
  assert all(c.shape == (20, inputs.shape[1]) for c in calls)
  for j, batch in enumerate(calls):
    rows = np.arange(j, 7, 3)                                # interleaved: 3, 2, 2 rows
    np.testing.assert_array_equal(batch[:len(rows)], inputs[rows])
    prior, _ = sampling.generator_inputs(setup, state.memory, jax.random.fold_in(rng, j),
                                         20 - len(rows))
    np.testing.assert_array_equal(batch[len(rows):], np.asarray(prior))
    np.testing.assert_allclose(out[rows], inputs[rows] - batch.mean(0), rtol=1e-6, atol=1e-6)
  # The key survives in context (its cosine with the outputs' key part stays high); alone, the
  # batch mean removes it exactly.
  alone = np.asarray(generate(state, inputs))[:, setup.z_dim:]
  np.testing.assert_allclose(alone, 0.0, atol=1e-6)
  kept = out[:, setup.z_dim:] @ key / np.linalg.norm(out[:, setup.z_dim:], axis=1)
  assert np.all(kept > 0.5)
  # MAD-GAN's rows belong to their position in the batch: refused, not silently mixed.
  madgan = tiny.shrink(fashion.get_config())
  madgan.model.kind = 'madgan'
  madgan.madgan.num_generators = 2
  with pytest.raises(ValueError, match='single-generator'):
    sampling.generate_in_context(generate, state, training.make_setup(madgan, 1), inputs, rng)


def test_evaluator_scores_fashion_and_never_changes_the_state():
  config = tiny.shrink(fashion.get_config())
  state = _state(config)
  before = jax.tree.map(np.asarray, state)
  result = evaluation.Evaluator(config, num_samples=120, reference_size=2000)(state, step=7)
  jax.tree.map(np.testing.assert_array_equal, before, jax.tree.map(np.asarray, state))
  for key in ('fid', 'kid', 'precision', 'recall', 'density', 'coverage', 'classifier_score',
              'test_set_off_manifold'):
    assert np.isfinite(result.scores[key]), key
  share = result.scores['interpolation_off_manifold']  # NaN if every sample is one class
  assert np.isnan(share) or 0 <= share <= 1
  assert result.scores['test_set_off_manifold'] < 0.05   # the classifier is sure of real data
  assert result.protocol['checkpoint_step'] == 7 and result.protocol['num_generated'] == 120
  assert result.protocol['reference_size'] == 2000
  # Slot purity ranks real slots by the test images that pick them first (2,000 here).
  sc = result.scores
  slots = sc['slot_purity_slots']
  assert 1 <= len(slots) <= 10 and np.all(np.asarray(state.memory.values)[slots] == 1)
  assert sorted(sc['slot_purity_slot_images'], reverse=True) == sc['slot_purity_slot_images']
  used = sum(sc['slot_purity_slot_images'])
  assert used == 2000 if sc['real_slots_used_by_test_images'] <= 10 else used < 2000
  assert all(0 < p <= 1 for p in sc['slot_data_purity'])
  assert len(sc['slot_data_majority_label']) == len(slots)
  assert {'samples', 'slots', 'slot_histogram'} <= set(result.pictures)
  assert result.pictures['slots'].shape[0] == 2 * 29 + 1  # slot_grid_rows = 2 rows of 28 + pad


def test_evaluator_scores_the_2d_mixtures():
  config = tiny.shrink(ring8.get_config())
  result = evaluation.Evaluator(config)(_state(config), step=0)
  assert result.protocol['num_generated'] == 2500 and result.protocol['benchmark'] == 'ring8'
  assert 0 <= result.scores['modes'] <= 8 and 0 <= result.scores['high_quality'] <= 1
  assert result.pictures['scatter'].shape == (256, 256, 3)


def test_evaluator_refuses_data_without_a_protocol():
  with pytest.raises(evaluation.EvaluationUnavailable, match="'affmnist'"):
    evaluation.Evaluator(tiny.shrink(affmnist.get_config()))
