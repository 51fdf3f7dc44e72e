"""The semi-supervised K+1 discriminator (mgan_jax.gans.semisup): its losses against NumPy,
the labelled subset, the step (pmap == jit; the supervised-only baseline sees no generated
image) and the test error in evaluation."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import fashion_semisup
from mgan_jax import data as data_lib
from mgan_jax.evaluate import evaluation
from mgan_jax.gans import improved, losses, semisup
from mgan_jax.train import checkpoints, trainer, training
from tests import numpy_improved as ref
from tests import tiny
from tests.test_training import fashion_images


def tiny_semisup(**overrides):
  return tiny.override(tiny.shrink(fashion_semisup.get_config(), batch=8, num_steps=2),
                       overrides)


def test_k_plus_one_losses_equal_numpy():
  rng = np.random.default_rng(0)
  lr, lf, ll = (rng.normal(size=(6, 4)) for _ in range(3))
  labels = rng.integers(0, 4, 6)
  real = losses.from_logit(semisup.unsupervised_logit(jnp.asarray(lr)))
  fake = losses.from_logit(semisup.unsupervised_logit(jnp.asarray(lf)))
  unsup, sup = ref.k_plus_one_losses(lr, lf, ll, labels)
  np.testing.assert_allclose(improved.smoothed_d_loss(real, fake, 'jsd', 1.0), unsup,
                             rtol=1e-5)
  np.testing.assert_allclose(semisup.supervised_loss(jnp.asarray(ll), jnp.asarray(labels)),
                             sup, rtol=1e-5)
  # D(x) = Z / (Z + 1).
  z = np.exp(lr).sum(1)
  np.testing.assert_allclose(real.prob, z / (z + 1), rtol=1e-5)


def test_labelled_subset_takes_that_many_of_each_class_the_same_way_every_time():
  labels = np.random.default_rng(1).integers(0, 3, 100)
  chosen = data_lib.labelled_subset(labels, 4, 3, seed=7)
  assert np.bincount(labels[chosen], minlength=3).tolist() == [4, 4, 4]
  assert len(set(chosen.tolist())) == 12
  np.testing.assert_array_equal(chosen, data_lib.labelled_subset(labels, 4, 3, seed=7))
  assert not np.array_equal(chosen, data_lib.labelled_subset(labels, 4, 3, seed=8))
  fewest = np.bincount(labels).min()
  with pytest.raises(ValueError, match=f'use at most {fewest}'):
    data_lib.labelled_subset(labels, fewest + 1, 3)


def test_labelled_batches_keep_images_and_labels_together():
  images = np.arange(40, dtype=np.uint8).reshape(40, 1, 1, 1)
  labels = np.arange(40) * 10
  batches = data_lib.Batches(images, 8, seed=0, num_devices=2, labels=labels, start_step=3)
  x, y = next(batches)
  batches.close()
  assert x.shape == (2, 4, 1, 1, 1) and y.shape == (2, 4)
  np.testing.assert_array_equal(x.reshape(-1).astype(int) * 10, y.reshape(-1))


def _run_steps(config, devices, g_seed=0, num=2):
  one, step = tiny.setup(config, 1), tiny.train_step(config, devices)
  state = training.init_state(one, jax.random.PRNGKey(0))
  if g_seed:
    other = training.init_state(one, jax.random.PRNGKey(g_seed))
    state = state.replace(g_params=other.g_params, g_opt=other.g_opt)
  if devices > 1:
    state = trainer.replicate(state, devices)
  images = fashion_images()
  labels = data_lib.load_debian_fashion('train')[1][:64].astype(np.int64)
  b, lb = config.batch_size, config.semisup.labelled_batch
  metrics = []
  for t in range(num):
    x, xl, yl = images[b * t:b * (t + 1)], images[lb * t:lb * (t + 1)], labels[lb * t:lb * (t + 1)]
    if devices > 1:
      x, xl, yl = (a.reshape((devices, -1) + a.shape[1:]) for a in (x, xl, yl))
    state, m = step(state, x, jax.random.PRNGKey(1), (xl, yl))
    metrics.append(jax.device_get(m))
  state = jax.device_get(state)
  return (trainer.unreplicate(state) if devices > 1 else state), metrics


def test_pmap_semisup_step_equals_the_single_device_step():
  # Without the config's noise layers: each replica draws its own noise (WORKSPACE).
  config = tiny_semisup(batch_size=16, **{'semisup.labelled_batch': 8,
                                          'improved.d_input_noise': 0.0,
                                          'improved.d_hidden_noise': 0.0})
  single, m1 = _run_steps(config, 1)
  multi, m8 = _run_steps(config, tiny.PMAP_DEVICES)
  pairs = zip(jax.tree_util.tree_flatten_with_path(multi.replace(g_params=None, g_opt=None))[0],
              jax.tree.leaves(single.replace(g_params=None, g_opt=None)))
  for (path, a), b in pairs:  # D, its optimiser and every batch statistic
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5, err_msg=jax.tree_util.keystr(path))
  for name in ('d_loss', 'g_loss', 'semisup/supervised_loss', 'd_grad_norm', 'g_grad_norm'):
    # (the G gradient's norm to 1e-3: the global feature means are summed in another order)
    np.testing.assert_allclose(m8[-1][name][0], m1[-1][name], rtol=1e-3, err_msg=name)
  # G's feature-matching gradient is ~1e-3 in norm: Adam's early steps scale each element
  # to about the learning rate whatever its size, so elements whose gradient is at float
  # noise differ by up to one step (2e-4) per step; everywhere else G agrees as D does.
  a = np.concatenate([x.ravel() for x in jax.tree.leaves(multi.g_params)])
  b = np.concatenate([x.ravel() for x in jax.tree.leaves(single.g_params)])
  np.testing.assert_allclose(a, b, rtol=1e-4, atol=len(m1) * config.optim.learning_rate)
  assert np.mean(np.abs(a - b) > 2e-5) < 0.01


def test_the_supervised_only_baseline_sees_no_generated_image():
  # With unsupervised_weight 0, D after two steps is the same whatever the generator is.
  config = tiny_semisup(**{'semisup.unsupervised_weight': 0.0})
  a, ma = _run_steps(config, 1, g_seed=0)
  b, mb = _run_steps(config, 1, g_seed=5)
  assert not np.allclose(jax.tree.leaves(a.g_params)[0], jax.tree.leaves(b.g_params)[0])
  for x, y in zip(jax.tree.leaves(a.d_params), jax.tree.leaves(b.d_params)):
    np.testing.assert_array_equal(x, y)
  np.testing.assert_allclose(ma[-1]['d_loss'], ma[-1]['semisup/supervised_loss'], rtol=1e-6)
  # With it, the generated images move D.
  config = tiny_semisup()
  a, _ = _run_steps(config, 1, g_seed=0)
  b, _ = _run_steps(config, 1, g_seed=5)
  assert not all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a.d_params),
                                                      jax.tree.leaves(b.d_params)))


@pytest.mark.parametrize('norm', ['bn', 'wn'])  # wn: a discriminator without batch norm
def test_training_logs_the_discriminator_test_error(tmp_path, norm):
  config = tiny_semisup(num_steps=2, eval_every=2, eval_num_samples=100,
                        eval_reference_size=200, **{'model.encoder_hidden_norm': norm})
  trainer.train_and_evaluate(config, str(tmp_path))
  record = json.loads((tmp_path / 'eval_log.jsonl').read_text().splitlines()[-1])
  classification = record['protocol']['classification']
  assert classification['labels_per_class'] == 1 and classification['split'] == 'test'
  # The error recomputed from the checkpoint, with the evaluation's classifier.
  setup = training.make_setup(config, 1)
  ckpt = checkpoints.Checkpointer(str(tmp_path / 'checkpoints'), read_only=True)
  try:
    state, _, _ = ckpt.restore_latest(training.init_state(setup, jax.random.PRNGKey(0)), config)
  finally:
    ckpt.close()
  images, labels = data_lib.load_debian_fashion('test')
  train = data_lib.load_debian_fashion('train')[0]
  order = np.sort(np.random.default_rng(0).permutation(len(train))[:evaluation.BN_STAT_IMAGES])
  logits = evaluation.make_discriminator_classifier(setup, train[order])(state, images)
  assert record['scores']['test_errors'] == int(np.sum(logits.argmax(1) != labels))
  assert record['scores']['test_error'] == pytest.approx(np.mean(logits.argmax(1) != labels))


def test_the_classifier_recomputes_batch_norm_statistics_from_real_images():
  # From one batch, the recomputed statistics are that batch's own: inference on it equals
  # a training-mode apply (which normalises with the batch's statistics).
  config = tiny_semisup()
  setup = training.make_setup(config, 1)
  state, _ = _run_steps(config, 1)
  batch = fashion_images()[100:108]
  classify = evaluation.make_discriminator_classifier(setup, batch, batch=8)
  x = batch.astype(np.float32) / 255.0
  (_, train_logits), _ = setup.d_train.apply(
      {'params': state.d_params, 'batch_stats': state.d_stats}, x, mutable=['batch_stats'])
  np.testing.assert_allclose(classify(state, batch), train_logits, rtol=1e-4, atol=1e-5)
  # ... and not what the checkpoint's running averages give.
  eval_logits = setup.d_eval.apply({'params': state.d_params, 'batch_stats': state.d_stats}, x)[1]
  assert not np.allclose(eval_logits, train_logits, atol=1e-3)


@pytest.mark.parametrize('overrides,message', [
    ({'semisup.labels_per_class': 7000}, 'class 0 has only 6000 examples'),
    ({'semisup.labelled_batch': 30}, 'is more than the 10 labelled examples'),
    ({'loss': 'updown'}, 'needs a cross-entropy loss'),
    ({'semisup.num_classes': 1}, 'num_classes must be at least 2'),
])
def test_bad_semisup_values_are_refused(tmp_path, overrides, message):
  with pytest.raises(trainer.ConfigError, match=message):
    trainer.Trainer(tiny_semisup(**overrides), str(tmp_path / 'run'))
