"""Stage clair: CLAIR preference pairs for APO (data_prep.clair) from the stage's model (run.input, the upstream
model, or model.hf_id): the model answers clair.prompts, a reviser endpoint minimally revises each answer.

The policy runs in-process with transformers, or, with clair.serve_policy=true (a GPU node in the `rl` image),
behind a vLLM server this stage starts and stops. The artifact holds pairs.jsonl (what apo.pairs points at), the
rejected and revised answers, and clair_summary.json; a requeued job resumes where the files stop."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator

from recipes.core.config import ConfigError
from recipes.core.schema import ClairConfig
from recipes.core.stage_context import StageContext
from recipes.core.stage_specs import StageSpec

SERVED_NAME = "policy"
VLLM_PORT = 8011


def render(ctx: StageContext) -> None:
    if not ctx.cfg.clair.prompts:
        raise ConfigError("clair.prompts: no prompts; set clair.prompts=<JSONL of {id, prompt or messages, lang}>")


def settings(ctx: StageContext):
    from data_prep.clair import ClairSettings
    from recipes.core.chat_endpoint import EndpointSettings

    c = ctx.cfg.clair
    served = c.serve_policy
    policy = EndpointSettings(
        base_url=f"http://127.0.0.1:{VLLM_PORT}/v1",
        model=SERVED_NAME if served else ctx.model_source(),
        temperature=c.policy_temperature,
        max_tokens=c.policy_max_tokens,
    )
    reviser = EndpointSettings(
        base_url=c.reviser_base_url,
        model=c.reviser_model,
        api_key_env=c.reviser_api_key_env,
        max_tokens=c.reviser_max_tokens,
    )
    return ClairSettings(
        policy_backend="openai" if served else "transformers",
        policy=policy,
        reviser=reviser,
        batch_size=c.batch_size,
        seed=c.seed,
    )


@contextlib.contextmanager
def vllm_server(model: str, tensor_parallel_size: int, timeout_s: float = 1800) -> Iterator[None]:
    """vLLM's OpenAI-compatible server for `model` on this node, for as long as the block runs."""
    import httpx

    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            model,
            "--served-model-name",
            SERVED_NAME,
            "--port",
            str(VLLM_PORT),
            "--tensor-parallel-size",
            str(tensor_parallel_size),
        ]
    )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"vLLM server for {model} exited with code {server.returncode} before it was ready")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{VLLM_PORT}/health", timeout=5).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"vLLM server for {model} not ready after {timeout_s:.0f} s")
            time.sleep(5)
        yield
    finally:
        server.terminate()
        server.wait(timeout=120)


def execute(ctx: StageContext) -> None:
    from data_prep.clair import run

    c = ctx.cfg.clair
    serving = (
        vllm_server(ctx.model_source(), c.policy_tensor_parallel_size) if c.serve_policy else contextlib.nullcontext()
    )
    with serving:
        summary = run(settings(ctx), c.prompts, ctx.artifact_dir)
    print(f"clair: {summary.pairs} pairs of {summary.prompts} prompts; filtered {summary.filtered}", flush=True)


STAGE = StageSpec(
    name="clair",
    order=80,
    summary="CLAIR preference pairs for APO from the stage's model and a reviser endpoint",
    engine="python",
    payload_kind="jsonl",
    execute=execute,
    render=render,
    input_paths=("clair.prompts",),
    sections={"clair": ClairConfig},
)
