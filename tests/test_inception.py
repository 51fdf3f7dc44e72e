"""The FID Inception-v3: shapes, the weight-file readers and mapping, the missing-file message,
and the CIFAR-10 evaluation plumbing, all with random weights (the real file is the user's)."""

import os
import pickle
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mgan_jax.evaluate import inception

# One worker for the module (setup.cfg, --dist loadgroup): its tests share the compiled
# Inception-v3 (a module-level jit; ~20 s to compile one input shape on a CPU).
pytestmark = pytest.mark.xdist_group('inception')


@pytest.fixture(scope='module')
def variables():
  return inception.random_variables(0)


def test_pool3_and_logits_shapes_for_grey_and_colour_inputs(variables):
  apply = inception.make_apply(variables)
  probs, pool3 = apply(jax.random.uniform(jax.random.PRNGKey(0), (2, 32, 32, 3)))
  assert probs.shape == (2, inception.NUM_CLASSES) and pool3.shape == (2, inception.FEATURE_DIM)
  np.testing.assert_allclose(np.sum(probs, axis=1), 1.0, rtol=1e-5)
  assert np.all(np.asarray(pool3) >= 0) and float(jnp.std(pool3)) > 1e-3  # ReLU, not dead
  grey = jax.random.uniform(jax.random.PRNGKey(1), (2, 32, 32, 1))  # colour: compiled above
  np.testing.assert_allclose(apply(grey)[1], apply(jnp.repeat(grey, 3, -1))[1], rtol=1e-5)


def test_the_state_dict_has_pytorch_fid_names_and_layouts(variables):
  sd = inception.state_dict_from_variables(variables)
  # 94 conv+bn blocks (weight, bn weight/bias/mean/var) and the 1008-way fc.
  assert len(sd) == 94 * 5 + 2
  assert sd['Conv2d_1a_3x3.conv.weight'].shape == (32, 3, 3, 3)             # OIHW
  assert sd['Mixed_6b.branch7x7_2.conv.weight'].shape == (128, 128, 1, 7)
  assert sd['Mixed_7c.branch3x3dbl_3b.conv.weight'].shape == (384, 384, 3, 1)
  assert sd['Mixed_7c.branch_pool.bn.running_var'].shape == (192,)
  assert sd['fc.weight'].shape == (1008, 2048)
  n = sum(x.size for k, x in sd.items() if 'running' not in k)
  assert n == 23_850_960  # torchvision's Inception3 without aux logits, 1008 classes


def test_npz_weights_round_trip_and_wrong_files_are_named(variables, tmp_path):
  path = inception.save_npz(variables, str(tmp_path / 'w.npz'))
  loaded = inception.load(path)
  jax.tree.map(np.testing.assert_array_equal, jax.tree.map(np.asarray, variables),
               jax.tree.map(np.asarray, loaded))
  sd = inception.state_dict_from_variables(variables)
  del sd['Mixed_5b.branch1x1.conv.weight']
  sd['fc.weight'] = sd['fc.weight'][:1000]
  sd['extra.weight'] = np.zeros(3)
  with pytest.raises(ValueError, match='missing Mixed_5b.branch1x1.conv.weight.*fc.weight: '
                     r'shape \(2048, 1000\).*unexpected extra.weight'):
    inception.variables_from_state_dict(sd)


def test_missing_weights_say_where_to_get_them(monkeypatch, tmp_path):
  monkeypatch.setenv(inception.ENV, str(tmp_path / 'nowhere.pth'))
  with pytest.raises(FileNotFoundError) as e:
    inception.load()
  assert inception.WEIGHTS_URL in str(e.value) and inception.ENV in str(e.value)


def test_torch_save_files_are_read_without_torch(tmp_path):
  torch = pytest.importorskip('torch')  # writes the files; the reader does not use torch
  rng = np.random.default_rng(0)
  tensors = {'a.weight': torch.from_numpy(rng.normal(size=(4, 3, 2, 2)).astype(np.float32)),
             'b.bias': torch.arange(5, dtype=torch.float32),
             'b.num_batches_tracked': torch.tensor(7),
             't.weight': torch.from_numpy(rng.normal(size=(3, 6)).astype(np.float32)).T}
  for legacy in (False, True):
    path = str(tmp_path / f'w{legacy}.pth')
    torch.save(tensors, path, _use_new_zipfile_serialization=not legacy)
    assert zipfile.is_zipfile(path) != legacy
    got = inception.read_torch_state_dict(path)
    assert set(got) == set(tensors)
    for k, v in tensors.items():
      np.testing.assert_array_equal(got[k], v.numpy(), err_msg=k)


def test_unexpected_pickled_objects_are_refused(tmp_path):
  path = tmp_path / 'evil.pth'
  with zipfile.ZipFile(path, 'w') as z:
    z.writestr('archive/data.pkl', pickle.dumps({'x': os.system}))
  with pytest.raises(pickle.UnpicklingError, match='unexpected object'):
    inception.read_torch_state_dict(str(path))


def test_cifar10_evaluation_uses_inception_features(variables, tmp_path):
  import tensorflow_datasets as tfds
  from experiments.configs import cifar10
  from mgan_jax.evaluate import evaluation
  from mgan_jax.train import training
  from tests import tiny
  config = tiny.shrink(cifar10.get_config())
  config.data.cache_dir = str(tmp_path / 'cache')
  with pytest.raises(evaluation.EvaluationUnavailable, match='Inception-v3 weights'):
    evaluation.Evaluator(config, inception_weights=str(tmp_path / 'none.pth'))
  weights = inception.save_npz(variables, str(tmp_path / 'w.npz'))
  with tfds.testing.mock_data(num_examples=12):
    evaluator = evaluation.Evaluator(config, num_samples=12, inception_weights=weights)
  state = training.init_state(training.make_setup(config, 1), jax.random.PRNGKey(0))
  result = evaluator(state, step=3)
  for key in ('fid', 'kid', 'precision', 'recall', 'inception_score',
              'inception_score_test_set'):
    assert np.isfinite(result.scores[key]), key
  assert 1.0 <= result.scores['inception_score'] <= inception.NUM_CLASSES
  assert 'Inception-v3' in result.protocol['feature_extractor']
  assert result.protocol['reference_size'] == 12


def test_matches_pytorch_fid_network_given_the_same_weights(variables, monkeypatch):
  """pytorch-fid's own FID Inception (its patched blocks, its resize and scaling), loaded
  strictly with our state dict, gives our pool3 features and class probabilities. Runs where
  the optional extra `crosscheck` (pytorch-fid) is installed."""
  torch = pytest.importorskip('torch')
  fid = pytest.importorskip('pytorch_fid.inception')
  state_dict = {k: torch.from_numpy(np.array(v))
                for k, v in inception.state_dict_from_variables(variables).items()}
  monkeypatch.setattr(fid, 'load_state_dict_from_url', lambda *args, **kwargs: state_dict)
  pool3_net = fid.InceptionV3([fid.InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=True,
                              normalize_input=True, use_fid_inception=True).eval()
  logits_net = fid.fid_inception_v3().eval()
  images = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype(np.float32)
  with torch.no_grad():
    x = torch.from_numpy(images).permute(0, 3, 1, 2)
    want_pool3 = pool3_net(x)[0][:, :, 0, 0].numpy()
    resized = torch.nn.functional.interpolate(x, size=(299, 299), mode='bilinear',
                                              align_corners=False)
    want_probs = torch.softmax(logits_net(2 * resized - 1), dim=1).numpy()
  probs, pool3 = inception.make_apply(variables)(jnp.asarray(images))
  assert float(np.std(want_pool3)) > 1e-3  # the comparison is not between two dead nets
  np.testing.assert_allclose(pool3, want_pool3, rtol=1e-3, atol=1e-4 * np.abs(want_pool3).max())
  np.testing.assert_allclose(probs, want_probs, rtol=1e-3, atol=1e-6)
