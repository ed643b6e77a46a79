"""TensorBoard logs written with TensorFlow alone.

Keras' TensorBoard callback needs the ``tensorboard`` package just to write scalars; the event
files it writes only need TensorFlow's summary writer and the scalar plugin's tag. View them with
``pip install tensorboard && tensorboard --logdir runs/NAME/logs``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tensorflow as tf
from tensorflow.core.framework import summary_pb2

# What TensorBoard's scalar plugin looks for: a float scalar tagged with its plugin name.
SCALARS = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
)


class EpochScalars:
    """Per-epoch losses into ``log_dir/train`` and ``log_dir/validation``, as Keras lays them."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._writers: dict[str, Any] = {}

    def _writer(self, kind: str) -> Any:
        if kind not in self._writers:
            self._writers[kind] = tf.summary.create_file_writer(str(self.log_dir / kind))
        return self._writers[kind]

    def write(self, epoch: int, losses: dict[str, float]) -> None:
        """``{"loss": ..., "val_loss": ...}`` of epoch ``epoch`` (from 0)."""
        for key, value in losses.items():
            kind, tag = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            with self._writer(kind).as_default():
                tf.summary.write(
                    f"epoch_{tag}",
                    tf.constant(float(value), tf.float32),
                    step=epoch,
                    metadata=SCALARS,
                )

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
