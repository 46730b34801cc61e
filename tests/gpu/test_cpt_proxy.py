"""The cpt recipe on one GPU: the Gemma-3-27B-shaped proxy (experiment=gemma3_27b_proxy: 27B hidden size, heads,
FFN and vocabulary, 4 layers) trains on the bundled SEA sample corpus, tokenised by data prep with the real Gemma 3
tokenizer, through the launcher (torchrun under NeMo-Run's LocalExecutor); a second run is stopped by SIGTERM after
its first checkpoint, saves, and is run again: it resumes where it stopped with the same data order and learning
rate, and its loss continues the uninterrupted run's curve.

Needs CUDA (80 GB) and the `train` container (Megatron-Bridge, megatron-core, Transformer Engine, tensorboard).
Not yet run in this repo: no GPU was lent to the task that wrote it.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.gpu
pytest.importorskip("megatron.bridge", reason="needs Megatron-Bridge (the train container)")
pytest.importorskip("tensorboard", reason="needs tensorboard (the train container) to read the loss curves")

from recipes.checkpoints import megatron_latest_iteration  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EXPERIMENT = "experiment=gemma3_27b_proxy"
ITERS, SAVE_EVERY = 60, 20


def run_module(*args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, "COLUMNS": "250"})
    assert out.returncode == 0, f"{args}: {out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


def scalars(tensorboard_dir: Path, tag: str) -> dict[int, float]:
    """{step: value} of one TensorBoard tag over every event file (a resumed run appends; its values win)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    events = []
    for path in sorted(tensorboard_dir.rglob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.tag == tag:
                    events.append((event.wall_time, event.step, value.simple_value))
    return {step: value for _, step, value in sorted(events)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    run_module("recipes.pipeline", EXPERIMENT, f"launch.root={root}", f"train.train_iters={ITERS}",
               f"checkpoint.save_interval={SAVE_EVERY}")
    return root


def test_proxy_trains_50_steps_with_falling_loss(runs):
    run_dir = runs / "gemma3_27b_proxy" / "cpt"
    assert json.loads((run_dir / "status.json").read_text())["state"] == "succeeded"
    loss = scalars(run_dir / "tensorboard", "lm loss")
    assert sorted(loss) == list(range(1, ITERS + 1))
    first, last = sum(loss[s] for s in range(1, 6)) / 5, sum(loss[s] for s in range(ITERS - 9, ITERS + 1)) / 10
    assert first > 10.0, first  # random initialisation over a 262k vocabulary: about ln(262208) = 12.5
    assert last < 0.7 * first, (first, last)
    assert megatron_latest_iteration(run_dir / "artifact" / "megatron") == ITERS
    record = json.loads((run_dir / "artifact" / "version.json").read_text())
    assert record["stage"] == "cpt"


def test_sigterm_saves_and_the_rerun_continues_the_curve(runs):
    blend = runs / "gemma3_27b_proxy" / "data_prep" / "artifact" / "blend.json"
    common = [EXPERIMENT, f"launch.root={runs}", "run.name=resumed", f"dataset.blend={blend}",
              f"train.train_iters={ITERS}", f"checkpoint.save_interval={SAVE_EVERY}"]
    run_module("recipes.cpt", *common, "launch.dryrun=true")
    run_dir = runs / "resumed" / "cpt"
    command = shlex.split((run_dir / "launch" / "command.sh").read_text().splitlines()[-1])
    assert command[0] == "torchrun"
    saved = run_dir / "artifact" / "megatron"

    first = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 1200
    while (megatron_latest_iteration(saved) or 0) < SAVE_EVERY:
        assert first.poll() is None and time.monotonic() < deadline, "no first checkpoint"
        time.sleep(2)
    time.sleep(10)  # a few iterations past the checkpoint
    # as Slurm's --signal does: SIGTERM to the training processes (torchrun's workers), which save and stop
    workers = Path(f"/proc/{first.pid}/task/{first.pid}/children").read_text().split()
    assert workers
    for pid in workers:
        os.kill(int(pid), signal.SIGTERM)
    assert first.wait(timeout=900) != 0  # stopped early: a failed attempt, not a finished stage
    status = json.loads((run_dir / "status.json").read_text())
    assert status["error"].startswith("TrainingStopped: cpt stopped before"), status
    stopped_at = megatron_latest_iteration(saved)
    assert SAVE_EVERY < stopped_at < ITERS, stopped_at  # the signal-time save, not only the interval one
    assert not (run_dir / "artifact" / "version.json").exists()

    subprocess.run(command, cwd=REPO, check=True, capture_output=True, timeout=1800)
    assert json.loads((run_dir / "status.json").read_text())["state"] == "succeeded"
    assert megatron_latest_iteration(saved) == ITERS

    reference_dir = runs / "gemma3_27b_proxy" / "cpt" / "tensorboard"
    loss, reference = scalars(run_dir / "tensorboard", "lm loss"), scalars(reference_dir, "lm loss")
    assert sorted(loss) == list(range(1, ITERS + 1))
    # same data order and schedule position: the learning rate at every step and the samples consumed by it
    lr, reference_lr = scalars(run_dir / "tensorboard", "learning-rate"), scalars(reference_dir, "learning-rate")
    for step in range(1, ITERS + 1):
        assert lr[step] == pytest.approx(reference_lr[step], rel=1e-6), step
    samples = scalars(run_dir / "tensorboard", "learning-rate vs samples")
    assert sorted(samples) == [8 * step for step in range(1, ITERS + 1)]
    # no jump where it resumed, and the curve stays on the uninterrupted one (bf16 kernels are not bitwise
    # deterministic: a few percent)
    for step in range(stopped_at + 1, ITERS + 1):
        assert abs(loss[step] - reference[step]) <= 0.05 * reference[step], (step, loss[step], reference[step])
    assert loss[stopped_at + 1] <= 1.2 * loss[stopped_at], (loss[stopped_at], loss[stopped_at + 1])
