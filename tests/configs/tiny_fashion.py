"""The fashion config at test size (used by subprocess tests as a config path)."""

from experiments.configs import fashion
from tests import tiny


def get_config():
  return tiny.shrink(fashion.get_config(), batch=8, num_steps=4)
