"""Data loading (Debian IDX files, tfds with mock data, affine-MNIST, image folders), the
batch iterator, and the TensorBoard/PNG outputs."""

import gzip
import io
import os

import ml_collections
import numpy as np
import pytest

from mgan_jax import data
from mgan_jax.train import summary


def test_read_idx_against_a_hand_made_file(tmp_path):
  array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
  header = bytes([0, 0, 8, 3]) + b''.join(d.to_bytes(4, 'big') for d in array.shape)
  path = tmp_path / 'x-idx3-ubyte.gz'
  with gzip.open(path, 'wb') as f:
    f.write(header + array.tobytes())
  np.testing.assert_array_equal(data.read_idx(str(path)), array)
  (tmp_path / 'bad').write_bytes(header + b'\x00')
  with pytest.raises(ValueError, match='header says'):
    data.read_idx(str(tmp_path / 'bad'))


def test_debian_fashion_mnist_is_the_real_data_set():
  images, labels = data.load_debian_fashion('train')
  assert images.shape == (60000, 28, 28, 1) and images.dtype == np.uint8
  assert np.bincount(labels).tolist() == [6000] * 10
  test_images, _ = data.load_debian_fashion('test')
  assert test_images.shape == (10000, 28, 28, 1)
  assert 40 < images.mean() < 100  # real garments, not blank or random pages


def test_missing_debian_data_says_how_to_install(tmp_path):
  with pytest.raises(data.DatasetNotFoundError, match='apt-get install dataset-fashion-mnist'):
    data.load_debian_fashion('train', str(tmp_path))


def _data_config(**kw):
  base = dict(name='x', source='tfds', data_dir='', tfds_name='mnist', shape=(28, 28, 1),
              crop=0, cache_dir='', affine_copies=1, tfds_download=False)
  base.update(kw)
  return ml_collections.ConfigDict(base)


def test_tfds_sources_load_with_mock_data(tmp_path):
  import tensorflow_datasets as tfds
  with tfds.testing.mock_data(num_examples=6):
    mnist = data.load_images(_data_config())
    cifar = data.load_images(_data_config(tfds_name='cifar10', shape=(32, 32, 3)))
    celeba = data.load_images(_data_config(tfds_name='celeb_a', shape=(64, 64, 3), crop=108,
                                           cache_dir=str(tmp_path)))
    affine = data.load_images(_data_config(source='affine_mnist', shape=(40, 40, 1),
                                           affine_copies=2, cache_dir=str(tmp_path)))
  assert mnist.shape == (6, 28, 28, 1) and cifar.shape == (6, 32, 32, 3)
  assert celeba.shape == (6, 64, 64, 3) and affine.shape == (12, 40, 40, 1)
  assert sorted(os.listdir(tmp_path)) == ['affine_mnist_train_40_2.npy', 'celeb_a_train_64.npy']
  # Cached arrays are what a second load returns, without tfds.
  np.testing.assert_array_equal(data.load_images(_data_config(
      tfds_name='celeb_a', shape=(64, 64, 3), crop=108, cache_dir=str(tmp_path))), celeba)


def test_shape_mismatch_is_reported():
  with pytest.raises(ValueError, match=r'data.shape=\(32, 32, 1\)'):
    data.load_images(_data_config(source='debian', shape=(32, 32, 1)))


def test_affine_mnist_keeps_the_digit_and_is_deterministic():
  digit = np.zeros((1, 28, 28, 1), np.uint8)
  digit[0, 8:20, 12:16] = 255  # a bar
  a = data.random_affine_mnist(digit, 40, copies=3, seed=1)
  b = data.random_affine_mnist(digit, 40, copies=3, seed=1)
  np.testing.assert_array_equal(a, b)
  assert a.shape == (3, 40, 40, 1)
  mass = a.reshape(3, -1).sum(1) / 255.0
  np.testing.assert_allclose(mass, 48 * np.ones(3), rtol=0.45)  # area x scale^2 in [0.64, 1.44]
  assert not np.array_equal(a[0], a[1])


def test_center_crop_resize_and_folder(tmp_path):
  from PIL import Image
  img = np.zeros((30, 50, 3), np.uint8)
  img[:, 10:40] = 200  # the central 30x30 square is bright
  out = data.center_crop_resize(img[None], 0, 15)
  assert out.shape == (1, 15, 15, 3) and out.min() > 150
  (tmp_path / 'a').mkdir()
  Image.fromarray(img).save(tmp_path / 'a' / '1.png')
  Image.fromarray(img).save(tmp_path / '2.jpg')
  assert data.load_folder(str(tmp_path), 16).shape == (2, 16, 16, 3)
  with pytest.raises(data.DatasetNotFoundError, match='rendered_chairs'):
    data.load_folder(str(tmp_path / 'nope'), 16)


def test_batches_are_reproducible_resumable_and_sharded():
  images = np.arange(40, dtype=np.uint8).reshape(40, 1, 1, 1)
  first = data.Batches(images, 8, seed=3)
  run = [next(first) for _ in range(7)]  # 5 batches an epoch: crosses into epoch 2
  first.close()
  resumed = data.Batches(images, 8, seed=3, start_step=4)
  np.testing.assert_array_equal(next(resumed), run[4])
  np.testing.assert_array_equal(next(resumed), run[5])
  resumed.close()
  epoch = np.concatenate(run[:5]).ravel()
  assert sorted(epoch.tolist()) == list(range(40))  # an epoch visits every example once
  assert not np.array_equal(np.concatenate(run[5:7]).ravel(), epoch[:16])  # reshuffled
  hosts = [data.Batches(images, 8, seed=3, process_index=p, process_count=2) for p in (0, 1)]
  a, b = next(hosts[0]), next(hosts[1])
  assert a.shape == (4, 1, 1, 1) and not set(a.ravel()) & set(b.ravel())
  # The hosts' parts make up the one-host batch: the global batch ignores the host count.
  np.testing.assert_array_equal(np.concatenate([a, b]), run[0])
  for h in hosts:
    h.close()
  split = data.Batches(images, 8, seed=3, num_devices=4)
  assert next(split).shape == (4, 2, 1, 1, 1)
  split.close()
  with pytest.raises(ValueError, match='does not split over 3 devices'):
    data.Batches(images, 8, seed=3, num_devices=3)


def test_image_grid_and_png():
  from PIL import Image
  images = np.stack([np.full((2, 3, 1), v) for v in (0.0, 0.5, 1.0)])
  grid = summary.image_grid(images, rows=1, pad=1)
  assert grid.shape == (4, 13, 1)
  np.testing.assert_array_equal(grid[1:3, 1:4, 0], 0)
  np.testing.assert_array_equal(grid[1:3, 5:8, 0], 128)
  np.testing.assert_array_equal(grid[1:3, 9:12, 0], 255)
  decoded = np.asarray(Image.open(io.BytesIO(summary.encode_png(grid))))
  np.testing.assert_array_equal(decoded, grid[..., 0])
  sym = summary.image_grid(2 * images - 1, rows=1, value_range=(-1, 1))
  np.testing.assert_array_equal(sym, grid)


def test_tensorboard_event_file_has_scalars_and_images(tmp_path):
  from tensorboard.backend.event_processing import event_accumulator
  writer = summary.SummaryWriter(str(tmp_path))
  writer.scalars(3, {'d_loss': 1.5, 'memory/hit_rate': 0.25})
  writer.image(3, 'samples', np.zeros((5, 7, 3), np.uint8))
  writer.close()
  acc = event_accumulator.EventAccumulator(str(tmp_path))
  acc.Reload()
  assert sorted(acc.Tags()['scalars']) == ['d_loss', 'memory/hit_rate']
  assert acc.Scalars('d_loss')[0].value == 1.5 and acc.Scalars('d_loss')[0].step == 3
  image = acc.Images('samples')[0]
  assert (image.width, image.height) == (7, 5)
