"""mgan_jax: MemoryGAN (Kim, Kim & Kim, ICLR 2018) in JAX and Flax."""

from mgan_jax import memory

__version__ = '0.1.0'
__all__ = ['memory']
