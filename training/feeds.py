"""Training and validation batches as ``tf.data`` datasets of ``(x, y, sample_weight)``.

Both feeds visit rows in the same seeded order per epoch (:func:`epoch_order`), so a run on
cached trunk outputs and an end-to-end run on images see identical batches.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import tensorflow as tf

from training.images import ImageLoader


def epoch_order(rows: np.ndarray, epoch: int, seed: int, shuffle: bool) -> np.ndarray:
    """The rows in the order one epoch visits them."""
    if not shuffle:
        return rows
    return np.random.default_rng([seed, epoch]).permutation(rows)


class _Epochs:
    """Counts the passes tf.data makes over a generator: one pass per epoch."""

    def __init__(self, first: int) -> None:
        self.next = first

    def take(self) -> int:
        epoch, self.next = self.next, self.next + 1
        return epoch


def array_feed(
    x: np.ndarray,
    rows: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool = False,
    flips: bool = False,
    seed: int = 0,
    first_epoch: int = 0,
) -> tf.data.Dataset:
    """Batches from an array indexed ``x[row, orientation]`` (a memmap or features in memory).

    ``y`` and ``w`` are indexed by row. With ``flips``, each row shows a random orientation per
    epoch; otherwise orientation 0.
    """
    epochs = _Epochs(first_epoch)
    sample_shape = tuple(int(d) for d in x.shape[2:])

    def batches() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        epoch = epochs.take()
        order = epoch_order(rows, epoch, seed, shuffle)
        turn = np.random.default_rng([seed, epoch, 1]).integers(0, x.shape[1], len(order))
        for start in range(0, len(order), batch_size):
            pick = order[start : start + batch_size]
            side = turn[start : start + batch_size] if flips else np.zeros(len(pick), int)
            batch = np.asarray(x[pick, side], dtype="float32")
            yield batch, y[pick], w[pick]

    signature = (
        tf.TensorSpec((None, *sample_shape), tf.float32),
        tf.TensorSpec((None, *y.shape[1:]), tf.float32),
        tf.TensorSpec((None,), tf.float32),
    )
    return tf.data.Dataset.from_generator(batches, output_signature=signature).prefetch(2)


def image_feed(
    loader: ImageLoader,
    rows: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    size: tuple[int, int],
    batch_size: int,
    *,
    shuffle: bool = False,
    augment: bool = False,
    seed: int = 0,
    first_epoch: int = 0,
) -> tf.data.Dataset:
    """Batches of decoded images (flips and small crops when ``augment``), for end-to-end fits."""
    epochs = _Epochs(first_epoch)

    def order() -> Iterator[int]:
        yield from epoch_order(rows, epochs.take(), seed, shuffle).tolist()

    ids = tf.data.Dataset.from_generator(order, output_signature=tf.TensorSpec((), tf.int64))
    targets, weights = tf.constant(y, tf.float32), tf.constant(w, tf.float32)

    def attach(row: tf.Tensor, pixels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        return pixels, tf.gather(targets, row), tf.gather(weights, row)

    stream = loader.decode(ids, size, augment=augment, seed=seed)
    return stream.map(attach).batch(batch_size).prefetch(2)
