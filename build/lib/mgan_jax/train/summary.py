"""TensorBoard event files and PNG image grids, without TensorFlow.

Event files are written with the ``tensorboard`` package's own writer (the one PyTorch's
SummaryWriter uses), so ``tensorboard --logdir=WORKDIR`` shows scalars and images.
"""

import io
import time
from typing import Mapping, Optional

import numpy as np


def image_grid(images: np.ndarray, rows: Optional[int] = None, pad: int = 1,
               value_range=(0.0, 1.0)) -> np.ndarray:
  """Float images [N, H, W, C] in ``value_range`` -> one uint8 [R*(H+pad)+pad, ..., C] grid.

  Rows are filled left to right; ``rows`` defaults to a square-ish layout.
  """
  images = np.asarray(images, np.float32)
  n, h, w, c = images.shape
  rows = rows or int(np.ceil(np.sqrt(n)))
  cols = int(np.ceil(n / rows))
  lo, hi = value_range
  images = np.clip((images - lo) / (hi - lo), 0.0, 1.0)
  grid = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad, c), np.float32)
  for i in range(n):
    r, col = divmod(i, cols)
    top, left = pad + r * (h + pad), pad + col * (w + pad)
    grid[top:top + h, left:left + w] = images[i]
  return np.round(grid * 255).astype(np.uint8)


def encode_png(image: np.ndarray) -> bytes:
  from PIL import Image
  image = np.asarray(image, np.uint8)
  if image.ndim == 3 and image.shape[-1] == 1:
    image = image[..., 0]
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format='PNG')
  return buffer.getvalue()


def write_png(path: str, image: np.ndarray) -> None:
  with open(path, 'wb') as f:
    f.write(encode_png(image))


class SummaryWriter:
  """Scalars and images to a TensorBoard event file in ``logdir``."""

  def __init__(self, logdir: str):
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    self._writer = EventFileWriter(logdir)

  def _write(self, step: int, values):
    from tensorboard.compat.proto import event_pb2, summary_pb2
    summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(**v) for v in values])
    self._writer.add_event(event_pb2.Event(wall_time=time.time(), step=int(step),
                                           summary=summary))

  def start(self, step: int) -> None:
    """Marks a (re)start at ``step``: TensorBoard drops the events at ``step`` and later that
    an earlier, abandoned attempt of the run wrote (its purge of orphaned data)."""
    from tensorboard.compat.proto import event_pb2
    self._writer.add_event(event_pb2.Event(
        wall_time=time.time(), step=int(step),
        session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START)))

  def scalars(self, step: int, values: Mapping[str, float]) -> None:
    self._write(step, [dict(tag=k, simple_value=float(v)) for k, v in values.items()])

  def image(self, step: int, tag: str, image: np.ndarray) -> None:
    from tensorboard.compat.proto import summary_pb2
    image = np.asarray(image, np.uint8)
    h, w = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[-1]
    proto = summary_pb2.Summary.Image(height=h, width=w, colorspace=channels,
                                      encoded_image_string=encode_png(image))
    self._write(step, [dict(tag=tag, image=proto)])

  def flush(self) -> None:
    self._writer.flush()

  def close(self) -> None:
    self._writer.close()


def set_aside_events(logdir: str) -> list[str]:
  """Moves the TensorBoard event files of ``logdir`` into ``logdir/events_before_restart/``
  (a run that starts again from step 0: its old curves are kept, out of the new run's way).
  Returns the files moved."""
  import glob
  import os
  old = sorted(glob.glob(os.path.join(logdir, 'events.out.tfevents.*')))
  if old:
    aside = os.path.join(logdir, 'events_before_restart')
    os.makedirs(aside, exist_ok=True)
    for path in old:
      os.replace(path, os.path.join(aside, os.path.basename(path)))
  return old
