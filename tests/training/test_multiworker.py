"""Multi-worker training for real: two worker processes on this machine, joined by TF_CONFIG.

Each worker runs the strategy that `beauty train --strategy multiworker` makes
(:func:`training.distribute.make_strategy`) and trains a tiny regressor for a few steps; only the
chief (:func:`training.distribute.is_chief`) writes into the run folder. Its loss curve must be
the curve of one worker training on the same global batches.

The loop is written with ``strategy.run``: Keras 3's ``Model.fit`` fails under
MultiWorkerMirroredStrategy (keras-team/keras#20585), see docs/scaling.md.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
GLOBAL_BATCH = 16
EPOCHS = 4

WORKER = """
import json, os, sys, tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from training.distribute import is_chief, make_strategy

strategy_name, run_dir = sys.argv[1], Path(sys.argv[2])
global_batch, epochs = map(int, sys.argv[3:])
strategy = make_strategy(strategy_name)
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.normal(size=(128, 8)).astype("float32")
y = (x @ rng.normal(size=(8, 1)) + 0.1 * rng.normal(size=(128, 1))).astype("float32")
data = tf.data.Dataset.from_tensor_slices((x, y)).batch(global_batch)
options = tf.data.Options()
options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
data = data.with_options(options)
with strategy.scope():
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(1)])
    optimizer = keras.optimizers.SGD(0.05)
    optimizer.build(model.trainable_variables)

def replica_step(x, y):
    with tf.GradientTape() as tape:
        error = tf.reduce_mean(tf.square(model(x, training=True) - y), axis=-1)
        loss = tf.nn.compute_average_loss(error, global_batch_size=global_batch)
    gradients = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))
    return loss

@tf.function
def step(x, y):
    return strategy.reduce("SUM", strategy.run(replica_step, args=(x, y)), axis=None)

losses = []
for _ in range(epochs):
    per_step = [float(step(x, y)) for x, y in strategy.experimental_distribute_dataset(data)]
    losses.append(sum(per_step) / len(per_step))
folder = run_dir if is_chief() else Path(tempfile.mkdtemp(prefix="beauty-worker-"))
folder.mkdir(parents=True, exist_ok=True)
(folder / "loss.json").write_text(json.dumps({
    "loss": losses,
    "replicas": strategy.num_replicas_in_sync,
}))
"""


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [int(s.getsockname()[1]) for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _worker(
    strategy: str, run_dir: Path, tf_config: dict[str, object] | None
) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    args = [strategy, str(run_dir), str(GLOBAL_BATCH), str(EPOCHS)]
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(WORKER), *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _finish(workers: list[subprocess.Popen[str]]) -> None:
    try:
        for worker in workers:
            output, _ = worker.communicate(timeout=300)
            assert worker.returncode == 0, output[-3000:]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()


def test_two_workers_train_as_one_and_only_the_chief_writes(tmp_path: Path) -> None:
    hosts = [f"localhost:{port}" for port in _free_ports(2)]
    runs = [tmp_path / "run-worker-0", tmp_path / "run-worker-1"]
    workers = [
        _worker(
            "multiworker",
            run_dir,
            {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}},
        )
        for index, run_dir in enumerate(runs)
    ]
    single = _worker("default", tmp_path / "single", None)
    _finish([*workers, single])

    assert (runs[0] / "loss.json").is_file()
    assert not runs[1].exists()  # the other worker wrote to a scratch folder only
    chief = json.loads((runs[0] / "loss.json").read_text())
    alone = json.loads((tmp_path / "single" / "loss.json").read_text())
    assert chief["replicas"] == 2 and alone["replicas"] == 1
    assert len(chief["loss"]) == EPOCHS
    assert chief["loss"][-1] < chief["loss"][0]
    # The same global batches, the gradients all-reduced over both halves: one worker's
    # arithmetic, summed in another order. float32 round-off over a few steps stays far below
    # 1e-4 relative; a wrong split or scaling (e.g. each worker stepping on its half alone)
    # changes the curve by percent.
    np.testing.assert_allclose(chief["loss"], alone["loss"], rtol=1e-4)
