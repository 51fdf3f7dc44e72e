"""Training and evaluation data: Fashion-MNIST from Debian, tensorflow-datasets sources,
affine MNIST, image folders, Stacked MNIST digits, the 2D mixtures (:mod:`.toy`), and the
reproducible, resumable, sharded :class:`Batches` (all in :mod:`.sources`)."""

from mgan_jax.data import toy
from mgan_jax.data.sources import (DEBIAN_FASHION_DIR, LABELLED_SOURCES, MNIST_SUBSET_TEST,
                                   SOURCES, Batches, labelled_subset, load_labelled,
                                   DatasetNotFoundError, center_crop_resize, load_debian_fashion,
                                   load_folder, load_images, load_mnist_digits, load_tfds,
                                   random_affine_mnist, read_idx, stack_digits)

__all__ = ['DEBIAN_FASHION_DIR', 'LABELLED_SOURCES', 'labelled_subset', 'load_labelled',
           'MNIST_SUBSET_TEST', 'SOURCES', 'Batches', 'DatasetNotFoundError',
           'center_crop_resize', 'load_debian_fashion', 'load_folder', 'load_images',
           'load_mnist_digits', 'load_tfds', 'random_affine_mnist', 'read_idx', 'stack_digits',
           'toy']
