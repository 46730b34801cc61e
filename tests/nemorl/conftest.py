"""NeMo-RL v0.5.0 loop tests: run in .venv-nemorl (tests/nemorl_env.sh builds it; tests/run.sh runs them there).

Elsewhere (the main venv has no nemo_rl) nothing here is collected. The rl and apo jobs are rendered by the
launcher, in the launcher's venv (SEALION_LAUNCHER_PYTHON, default .venv/bin/python: tests/run.sh builds it
first), exactly as `python -m recipes.rl ...` renders them for a cluster.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

if importlib.util.find_spec("nemo_rl") is None:
    collect_ignore_glob = ["test_*.py"]

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = Path(os.environ.get("SEALION_LAUNCHER_PYTHON", REPO / ".venv" / "bin" / "python"))


@pytest.fixture(scope="session")
def nemo_rl_home() -> Path:
    """The NeMo-RL checkout the venv installed (editable): examples/ and examples/configs/ of v0.5.0."""
    import nemo_rl

    home = Path(nemo_rl.__file__).resolve().parents[1]
    assert (home / "examples" / "run_grpo.py").is_file(), f"{home}: not a NeMo-RL checkout"
    return home


@pytest.fixture(scope="session")
def tiny_gemma3(tmp_path_factory) -> Path:
    """A 2-layer Gemma 3 with the 270M fixture's architecture and its real tokenizer (262k vocabulary), randomly
    initialised: small enough to sample from and train on CPU in seconds."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from recipes.gemma3_fixture import fixture_dir

    source = fixture_dir()
    config = AutoConfig.from_pretrained(source)
    config.update(
        {
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 32,
            "query_pre_attn_scalar": 32,
            "layer_types": ["sliding_attention", "full_attention"],
            "torch_dtype": "float32",
        }
    )
    torch.manual_seed(0)
    target = tmp_path_factory.mktemp("tiny-gemma3")
    AutoModelForCausalLM.from_config(config).save_pretrained(target)
    AutoTokenizer.from_pretrained(source).save_pretrained(target)
    return target


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    """A local CPU Ray cluster started beside the job, as NeMo-RL's ray.sub starts one on Slurm: the job's
    `init_ray` finds it (RAY_ADDRESS) and attaches instead of starting its own (whose dashboard start times out
    on a busy 2-core machine). Its own process group, ended with it."""
    import signal
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray_bin = Path(sys.executable).parent / "ray"
    temp = tmp_path_factory.mktemp("ray")
    head = subprocess.Popen(
        [
            str(ray_bin),
            "start",
            "--head",
            "--block",
            f"--port={port}",
            "--num-cpus=4",
            "--num-gpus=0",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp}",
        ],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while subprocess.run([str(ray_bin), "status", f"--address={address}"], capture_output=True).returncode != 0:
        assert head.poll() is None and time.monotonic() < deadline, "the local Ray head did not start"
        time.sleep(2)
    previous = os.environ.get("RAY_ADDRESS")
    os.environ["RAY_ADDRESS"] = address
    yield address
    if previous is None:
        os.environ.pop("RAY_ADDRESS", None)
    else:
        os.environ["RAY_ADDRESS"] = previous
    os.killpg(head.pid, signal.SIGINT)  # `ray start --block` stops its processes on Ctrl-C
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)
