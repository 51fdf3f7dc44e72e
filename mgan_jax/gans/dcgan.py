"""The DCGAN baseline's head: a logit from the encoder, no state, nothing added to z."""

from __future__ import annotations

import dataclasses


from mgan_jax.gans import base, losses


@dataclasses.dataclass(frozen=True)
class LogitHead(base.BinaryHead):
  """``D(x) = sigmoid(logit(x))`` (Radford et al.): the memory-free baseline."""

  @classmethod
  def from_config(cls, config, axis_name=None, sharded=False):
    del axis_name
    if sharded:
      raise ValueError('memory_sharded=True needs a memory: model.kind=dcgan has none')
    del config
    return cls()

  def validate(self, config, num_replicas):
    del config, num_replicas

  def num_logits(self):
    return 1

  def d_outputs(self, state, features, logits):
    del state, features
    return losses.from_logit(logits), None
