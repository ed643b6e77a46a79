"""Where training runs: one device, all local GPUs, or several machines.

- ``default``: TensorFlow's default device (a GPU when there is one).
- ``mirrored``: ``tf.distribute.MirroredStrategy``, every local GPU; the batch is split among them.
- ``multiworker``: ``tf.distribute.MultiWorkerMirroredStrategy`` across machines. Each machine runs
  the same ``beauty train`` command with ``TF_CONFIG`` describing the cluster and its own role
  (``{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker",
  "index": 0}}``); worker 0 is the chief and writes the run folder, the others write theirs to a
  scratch folder. Every worker must reach the images and the scores table.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from infra.errors import BeautyError


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy called ``name``."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise BeautyError(
                "--strategy multiworker needs TF_CONFIG describing the cluster and this worker"
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise BeautyError(f"unknown strategy {name!r}: choose default, mirrored or multiworker")


def is_chief() -> bool:
    """Whether this worker writes the run's outputs: the chief, else worker 0 (per TF_CONFIG)."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task", {})
    if "chief" in config.get("cluster", {}):
        return bool(task.get("type") == "chief")
    return int(task.get("index", 0)) == 0
