"""The FID Inception-v3 (TF 'inception-2015-12-05' graph) in Flax, with its weights read from a
file the user provides: pool3 features (2048-d) for FID/KID/precision-recall on CIFAR-10 and
CelebA, and the 1008 logits for the Inception Score.

The architecture is pytorch-fid's ``fid_inception_v3`` (torchvision's Inception3 with the
TF graph's differences: average pools that do not count padding, a max pool in the last
block, 1008 classes). Accepted weight files (:func:`load`):

* ``pt_inception-2015-12-05-6726825d.pth``: pytorch-fid's port of the TF weights
  (https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/
  pt_inception-2015-12-05-6726825d.pth, 95 MB). Read without PyTorch (both of torch.save's
  formats: the zip archive and the legacy pickle stream).
* ``.npz`` with the same state-dict names (``Mixed_5b.branch1x1.conv.weight``, ...), e.g.
  written by :func:`save_npz`.

Where the file is looked for: the ``path`` argument, else ``$MGAN_INCEPTION_WEIGHTS``, else
``~/.cache/mgan_jax/pt_inception-2015-12-05-6726825d.pth``. Without it, :func:`load` raises
FileNotFoundError saying how to get it; nothing is downloaded.

Checked against pytorch-fid itself (tests/test_inception.py, with the optional extra
``crosscheck``): its ``InceptionV3`` and ``fid_inception_v3``, loaded strictly with the state
dict of random weights, give this network's pool3 features and class probabilities on the
same images, resize and scaling included.
"""

import collections
import functools
import io
import os
import pickle
import zipfile
from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

WEIGHTS_NAME = 'pt_inception-2015-12-05-6726825d.pth'
WEIGHTS_URL = ('https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/'
               + WEIGHTS_NAME)
DEFAULT_PATH = os.path.join(os.path.expanduser('~'), '.cache', 'mgan_jax', WEIGHTS_NAME)
ENV = 'MGAN_INCEPTION_WEIGHTS'
NUM_CLASSES = 1008
FEATURE_DIM = 2048


class BasicConv(nn.Module):
  """conv (no bias) -> batch norm (eps 1e-3, running statistics) -> ReLU; torch padding."""

  features: int
  kernel: tuple = (1, 1)
  stride: int = 1
  padding: tuple = (0, 0)

  @nn.compact
  def __call__(self, x):
    ph, pw = self.padding
    x = nn.Conv(self.features, self.kernel, (self.stride, self.stride),
                padding=((ph, ph), (pw, pw)), use_bias=False, name='conv')(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name='bn')(x)
    return nn.relu(x)


def _avg_pool(x):
  return nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False)


def _max_pool(x, stride=2):
  pad = ((1, 1), (1, 1)) if stride == 1 else 'VALID'
  return nn.max_pool(x, (3, 3), (stride, stride), pad)


class InceptionA(nn.Module):
  pool_features: int

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv(64, name='branch1x1')(x)
    b5 = BasicConv(48, name='branch5x5_1')(x)
    b5 = BasicConv(64, (5, 5), padding=(2, 2), name='branch5x5_2')(b5)
    b3 = BasicConv(64, name='branch3x3dbl_1')(x)
    b3 = BasicConv(96, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(b3)
    b3 = BasicConv(96, (3, 3), padding=(1, 1), name='branch3x3dbl_3')(b3)
    bp = BasicConv(self.pool_features, name='branch_pool')(_avg_pool(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv(384, (3, 3), stride=2, name='branch3x3')(x)
    bd = BasicConv(64, name='branch3x3dbl_1')(x)
    bd = BasicConv(96, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(bd)
    bd = BasicConv(96, (3, 3), stride=2, name='branch3x3dbl_3')(bd)
    return jnp.concatenate([b3, bd, _max_pool(x)], axis=-1)


class InceptionC(nn.Module):
  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c7 = self.channels_7x7
    row, col = dict(kernel=(1, 7), padding=(0, 3)), dict(kernel=(7, 1), padding=(3, 0))
    b1 = BasicConv(192, name='branch1x1')(x)
    b7 = BasicConv(c7, name='branch7x7_1')(x)
    b7 = BasicConv(c7, **row, name='branch7x7_2')(b7)
    b7 = BasicConv(192, **col, name='branch7x7_3')(b7)
    bd = BasicConv(c7, name='branch7x7dbl_1')(x)
    bd = BasicConv(c7, **col, name='branch7x7dbl_2')(bd)
    bd = BasicConv(c7, **row, name='branch7x7dbl_3')(bd)
    bd = BasicConv(c7, **col, name='branch7x7dbl_4')(bd)
    bd = BasicConv(192, **row, name='branch7x7dbl_5')(bd)
    bp = BasicConv(192, name='branch_pool')(_avg_pool(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv(192, name='branch3x3_1')(x)
    b3 = BasicConv(320, (3, 3), stride=2, name='branch3x3_2')(b3)
    b7 = BasicConv(192, name='branch7x7x3_1')(x)
    b7 = BasicConv(192, (1, 7), padding=(0, 3), name='branch7x7x3_2')(b7)
    b7 = BasicConv(192, (7, 1), padding=(3, 0), name='branch7x7x3_3')(b7)
    b7 = BasicConv(192, (3, 3), stride=2, name='branch7x7x3_4')(b7)
    return jnp.concatenate([b3, b7, _max_pool(x)], axis=-1)


class InceptionE(nn.Module):
  """``max_pool``: the TF graph's last block (Mixed_7c) pools with max, not average."""

  max_pool: bool = False

  @nn.compact
  def __call__(self, x):
    row, col = dict(kernel=(1, 3), padding=(0, 1)), dict(kernel=(3, 1), padding=(1, 0))
    b1 = BasicConv(320, name='branch1x1')(x)
    b3 = BasicConv(384, name='branch3x3_1')(x)
    b3 = jnp.concatenate([BasicConv(384, **row, name='branch3x3_2a')(b3),
                          BasicConv(384, **col, name='branch3x3_2b')(b3)], axis=-1)
    bd = BasicConv(448, name='branch3x3dbl_1')(x)
    bd = BasicConv(384, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(bd)
    bd = jnp.concatenate([BasicConv(384, **row, name='branch3x3dbl_3a')(bd),
                          BasicConv(384, **col, name='branch3x3dbl_3b')(bd)], axis=-1)
    pooled = _max_pool(x, stride=1) if self.max_pool else _avg_pool(x)
    bp = BasicConv(192, name='branch_pool')(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class InceptionV3(nn.Module):
  """[B, 299, 299, 3] in [-1, 1] -> ``(pool3 [B, 2048], logits [B, 1008])``."""

  @nn.compact
  def __call__(self, x):
    x = BasicConv(32, (3, 3), stride=2, name='Conv2d_1a_3x3')(x)
    x = BasicConv(32, (3, 3), name='Conv2d_2a_3x3')(x)
    x = BasicConv(64, (3, 3), padding=(1, 1), name='Conv2d_2b_3x3')(x)
    x = _max_pool(x)
    x = BasicConv(80, name='Conv2d_3b_1x1')(x)
    x = BasicConv(192, (3, 3), name='Conv2d_4a_3x3')(x)
    x = _max_pool(x)
    x = InceptionA(32, name='Mixed_5b')(x)
    x = InceptionA(64, name='Mixed_5c')(x)
    x = InceptionA(64, name='Mixed_5d')(x)
    x = InceptionB(name='Mixed_6a')(x)
    x = InceptionC(128, name='Mixed_6b')(x)
    x = InceptionC(160, name='Mixed_6c')(x)
    x = InceptionC(160, name='Mixed_6d')(x)
    x = InceptionC(192, name='Mixed_6e')(x)
    x = InceptionD(name='Mixed_7a')(x)
    x = InceptionE(name='Mixed_7b')(x)
    x = InceptionE(max_pool=True, name='Mixed_7c')(x)
    pool3 = jnp.mean(x, axis=(1, 2))
    return pool3, nn.Dense(NUM_CLASSES, name='fc')(pool3)


def variable_shapes():
  """The variables' shapes and dtypes (``jax.ShapeDtypeStruct`` leaves), without computing."""
  return jax.eval_shape(InceptionV3().init, jax.random.PRNGKey(0),
                        jnp.zeros((1, 299, 299, 3), jnp.float32))


def random_variables(seed: int = 0):
  """Random weights that keep activations O(1) through the 94 conv layers (He-scaled: batch
  norm scale sqrt(2) after unit-variance convolutions): for tests of shapes and of the
  metric plumbing, not meaningful features."""
  rng = np.random.default_rng(seed)

  def make(path, leaf):
    name = path[-1].key
    if name == 'kernel':
      fan_in = int(np.prod(leaf.shape[:-1]))
      return jnp.asarray(rng.normal(0, fan_in ** -0.5, leaf.shape).astype(np.float32))
    value = {'scale': np.sqrt(2.0), 'var': 1.0}.get(name, 0.0)
    return jnp.full(leaf.shape, value, jnp.float32)

  return jax.tree_util.tree_map_with_path(make, variable_shapes())


# --------------------------------------------------------------------------------------
# State dicts (pytorch-fid names) <-> Flax variables.


def _flat(tree, prefix=()):
  for key, value in tree.items():
    if isinstance(value, dict) or hasattr(value, 'items'):
      yield from _flat(value, prefix + (key,))
    else:
      yield prefix + (key,), value


def _torch_name(collection: str, path: tuple) -> tuple[str, callable]:
  """The state-dict name of one Flax leaf and the map from the torch array to it."""
  *modules, leaf = path
  base = '.'.join(modules)
  if collection == 'batch_stats':
    return f'{base}.running_{leaf}', lambda a: a
  if leaf == 'kernel' and modules[-1] == 'fc':
    return f'{base}.weight', lambda a: a.T                       # [out, in] -> [in, out]
  if leaf == 'kernel':
    return f'{base}.weight', lambda a: a.transpose(2, 3, 1, 0)   # OIHW -> HWIO
  if leaf == 'scale':
    return f'{base}.weight', lambda a: a
  return f'{base}.{leaf}', lambda a: a                           # bias


def variables_from_state_dict(state_dict, target=None):
  """Flax variables from a pytorch-fid state dict; every tensor checked by name and shape."""
  target = variable_shapes() if target is None else target
  used, problems = set(), []
  out = {}
  for collection in ('params', 'batch_stats'):
    leaves = {}
    for path, leaf in _flat(target[collection]):
      name, convert = _torch_name(collection, path)
      if name not in state_dict:
        problems.append(f'missing {name}')
        continue
      value = convert(np.asarray(state_dict[name], np.float32))
      if value.shape != tuple(leaf.shape):
        problems.append(f'{name}: shape {value.shape} (as Flax), expected {tuple(leaf.shape)}')
        continue
      used.add(name)
      leaves[path] = jnp.asarray(value)
    out[collection] = _unflatten(leaves)
  ignorable = ('num_batches_tracked', 'AuxLogits.')
  unexpected = [k for k in state_dict if k not in used and not any(s in k for s in ignorable)]
  problems += [f'unexpected {k}' for k in unexpected]
  if problems:
    more = f' (and {len(problems) - 8} more)' if len(problems) > 8 else ''
    shown = '; '.join(problems[:8]) + more
    raise ValueError(f'these are not the FID Inception-v3 weights ({WEIGHTS_NAME}): {shown}')
  return out


def _unflatten(leaves):
  tree = {}
  for path, value in leaves.items():
    node = tree
    for key in path[:-1]:
      node = node.setdefault(key, {})
    node[path[-1]] = value
  return tree


def state_dict_from_variables(variables) -> dict[str, np.ndarray]:
  """The inverse of :func:`variables_from_state_dict` (pytorch-fid names and layouts)."""
  out = {}
  for collection in ('params', 'batch_stats'):
    for path, leaf in _flat(variables[collection]):
      name, _ = _torch_name(collection, path)
      a = np.asarray(leaf)
      *modules, key = path
      if key == 'kernel':
        a = a.T if modules[-1] == 'fc' else a.transpose(3, 2, 0, 1)
      out[name] = a
  return out


def save_npz(variables, path: str) -> str:
  np.savez(path, **state_dict_from_variables(variables))
  return path


# --------------------------------------------------------------------------------------
# Reading torch.save files without PyTorch.


_DTYPES = {'FloatStorage': np.float32, 'DoubleStorage': np.float64, 'HalfStorage': np.float16,
           'LongStorage': np.int64, 'IntStorage': np.int32, 'ByteStorage': np.uint8,
           'BoolStorage': np.bool_}


class _StorageType:
  def __init__(self, name):
    self.dtype = np.dtype(_DTYPES[name])


def _strided(storage, offset, size, stride):
  itemsize = storage.dtype.itemsize
  return np.lib.stride_tricks.as_strided(
      storage[offset:], shape=tuple(size), strides=tuple(s * itemsize for s in stride)).copy()


class _Pending:
  """A tensor of the legacy format, whose storage bytes follow the pickled object."""

  def __init__(self, key, offset, size, stride):
    self.key, self.offset, self.size, self.stride = key, offset, size, stride


def _rebuild_tensor(storage, offset, size, stride, *args):
  if isinstance(storage, str):     # legacy format: the storage key; data comes later
    return _Pending(storage, offset, size, stride)
  return _strided(storage, offset, size, stride)


class _Unpickler(pickle.Unpickler):
  """Unpickles a state dict of tensors; ``load_storage(key, dtype, numel)`` gives storages."""

  def __init__(self, stream, load_storage):
    super().__init__(stream)
    self.load_storage = load_storage

  def find_class(self, module, name):
    if module == 'torch._utils' and name in ('_rebuild_tensor_v2', '_rebuild_tensor'):
      return _rebuild_tensor
    if module == 'torch' and name in _DTYPES:
      return _StorageType(name)
    if module == 'collections' and name == 'OrderedDict':
      return collections.OrderedDict
    if module == 'torch._utils' and name == '_rebuild_parameter':
      return lambda data, *args: data
    raise pickle.UnpicklingError(f'unexpected object {module}.{name} in a weights file')

  def persistent_load(self, pid):
    _, storage_type, key, _, numel = pid[:5]   # ('storage', type, key, location, numel)
    return self.load_storage(str(key), storage_type.dtype, int(numel))


def read_torch_state_dict(path: str) -> dict[str, np.ndarray]:
  """A ``torch.save``-d dict of tensors as NumPy arrays, without importing torch."""
  if zipfile.is_zipfile(path):
    with zipfile.ZipFile(path) as archive:
      pkl = next(n for n in archive.namelist() if n.endswith('data.pkl'))
      root = pkl[:-len('data.pkl')]

      def from_archive(key, dtype, numel):
        return np.frombuffer(archive.read(f'{root}data/{key}'), dtype)[:numel]

      return dict(_Unpickler(io.BytesIO(archive.read(pkl)), from_archive).load())
  # The legacy format: magic number, protocol, system info, the object, the storage keys,
  # then each storage as its element count (int64) and its bytes, in the order of the keys.
  with open(path, 'rb') as f:
    for _ in range(3):
      pickle.load(f)
    dtypes = {}

    def later(key, dtype, numel):
      dtypes[key] = dtype
      return key

    obj = _Unpickler(f, later).load()
    storages = {}
    for key in pickle.load(f):
      count = int(np.frombuffer(f.read(8), '<i8')[0])
      storages[key] = np.frombuffer(f.read(count * dtypes[key].itemsize), dtypes[key])
  return {name: _strided(storages[t.key], t.offset, t.size, t.stride)
          for name, t in obj.items()}


def load(path: Optional[str] = None):
  """The FID Inception-v3 variables from the user's weights file (see the module docstring)."""
  path = path or os.environ.get(ENV) or DEFAULT_PATH
  if not os.path.exists(path):
    raise FileNotFoundError(
        f'Inception-v3 weights not found at {path}. CIFAR-10 and CelebA scores need the FID '
        f'Inception weights: download {WEIGHTS_URL} on a machine with internet, then put the '
        f'file at {DEFAULT_PATH} or point ${ENV} at it (an .npz with the same state-dict '
        'names is accepted too).')
  if path.endswith('.npz'):
    with np.load(path) as f:
      state_dict = {k: f[k] for k in f.files}
  else:
    state_dict = read_torch_state_dict(path)
  return variables_from_state_dict(state_dict)


def preprocess(images: jax.Array) -> jax.Array:
  """Float images [B, H, W, C] in [0, 1] (C = 1 or 3) -> [B, 299, 299, 3] in [-1, 1]:
  bilinear resize as torch's ``interpolate(align_corners=False)``, as pytorch-fid."""
  if images.shape[-1] == 1:
    images = jnp.repeat(images, 3, axis=-1)
  b = images.shape[0]
  if images.shape[1:3] != (299, 299):
    images = jax.image.resize(images, (b, 299, 299, 3), 'bilinear', antialias=False)
  return 2.0 * images - 1.0


@jax.jit
def _apply(variables, images):
  pool3, logits = InceptionV3().apply(variables, preprocess(images))
  return jax.nn.softmax(logits), pool3


def make_apply(variables):
  """A jitted ``images [B, H, W, C] in [0, 1] -> (probabilities [B, 1008], pool3 [B, 2048])``,
  the interface of :func:`mgan_jax.evaluate.classifier.make_apply`. The weights are an
  argument of one module-level compiled function, not constants of a new one: the 24M
  weights are not folded into the program, and every caller shares its compilations."""
  return functools.partial(_apply, jax.device_put(variables))  # on the device once
