"""CLAIR pairs end to end: the real Gemma 3 270M answers (policy) and revises (reviser) behind a real
`transformers serve` OpenAI-compatible server; a thin proxy in front of it injects 503s."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from data_prep.clair import ClairError, ClairSettings, Prompt, filter_reason, read_prompts, run
from data_prep.sft_format import SFTFormatSettings, run_preference
from recipes.core.chat_endpoint import EndpointSettings

PROMPTS = [
    {"id": "id-1", "lang": "id", "prompt": "Apa ibu kota Indonesia?"},
    {"id": "vi-1", "lang": "vi", "prompt": "Thủ đô của Việt Nam là gì?"},
    {
        "id": "th-1",
        "lang": "th",
        "messages": [
            {"role": "system", "content": "ตอบเป็นภาษาไทย"},
            {"role": "user", "content": "เมืองหลวงของประเทศไทยคืออะไร"},
        ],
    },
    {"id": "en-1", "lang": "en", "prompt": "What is the capital of Singapore?"},
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(gemma3_dir, tmp_path_factory):
    """`transformers serve` with the 270M fixture on a free port; yields (base_url, served model name)."""
    cli = shutil.which("transformers", path=str(Path(sys.executable).parent)) or shutil.which("transformers")
    if cli is None:
        pytest.fail("the `transformers` CLI is missing: pip install 'transformers[serving]==5.17.0'")
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [
                cli,
                "serve",
                str(gemma3_dir),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--device",
                "cpu",
                "--dtype",
                "float32",
                "--log-level",
                "info",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                pytest.fail(f"transformers serve exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"transformers serve not ready after 180 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1", str(gemma3_dir)
    finally:
        process.terminate()
        process.wait(timeout=30)


class FlakyProxy:
    """Forwards to the real server, but answers 503 to the requests `fails(n)` picks (n counts from 0)."""

    def __init__(self, upstream: str, fails):
        self.requests = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                n, proxy.requests = proxy.requests, proxy.requests + 1
                if fails(n):
                    status, payload = 503, b'{"error": "overloaded"}'
                else:
                    upstream_response = httpx.post(
                        upstream + self.path.removeprefix("/v1"),
                        content=body,
                        headers={"Content-Type": "application/json"},
                        timeout=300,
                    )
                    status, payload = upstream_response.status_code, upstream_response.content
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()


def _prompts_file(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _settings(model: str, policy_url: str, reviser_url: str, backend: str, max_tokens: int) -> ClairSettings:
    endpoint = {"model": model, "max_tokens": max_tokens, "max_retries": 3, "backoff_s": 0.05, "timeout_s": 300}
    return ClairSettings(
        policy_backend=backend,
        policy=EndpointSettings(base_url=policy_url, **endpoint),
        reviser=EndpointSettings(base_url=reviser_url, **endpoint),
        batch_size=4,
    )


def test_end_to_end_with_transformers_policy_and_served_reviser(server, gemma3_dir, tmp_path):
    url, model = server
    prompts = _prompts_file(tmp_path, PROMPTS)
    out = tmp_path / "clair"
    settings = _settings(model, "unused", url, "transformers", max_tokens=24)
    summary = run(settings, prompts, out)

    rejected, revised = _rows(out / "rejected.jsonl"), _rows(out / "revised.jsonl")
    assert sorted(r["id"] for r in rejected) == sorted(r["id"] for r in revised) == sorted(p["id"] for p in PROMPTS)
    assert any(r["rejected"] for r in rejected), "the policy produced no text at all"
    assert all(r["endpoint"] == url for r in revised)
    pairs = _rows(out / "pairs.jsonl")
    assert summary.prompts == 4 and summary.pairs == len(pairs)
    assert summary.pairs + sum(summary.filtered.values()) == 4
    assert json.loads((out / "clair_summary.json").read_text())["filtered"] == summary.filtered
    by_id = {r["id"]: r for r in rejected}
    for pair in pairs:
        assert pair["rejected"] == by_id[pair["id"]]["rejected"] and pair["chosen"] != pair["rejected"]
        assert pair["prompt"][-1]["role"] == "user"
        assert pair["provenance"]["policy"] == f"transformers:{model}"
        assert pair["provenance"]["reviser"] == model and pair["provenance"]["endpoint"] == url
        assert len(pair["provenance"]["settings_hash"]) == 16 and pair["provenance"]["created"].endswith("Z")
    # The pairs are in the preference format data_prep.sft_format tokenises.
    tokenised = run_preference(
        SFTFormatSettings(tokenizer=str(gemma3_dir), max_length=1024),
        str(out / "pairs.jsonl"),
        str(tmp_path / "tokenised"),
    )
    assert tokenised.examples == len(pairs)

    # Everything is done: a rerun against dead endpoints makes no request and writes the same pairs.
    dead = f"http://127.0.0.1:{_free_port()}/v1"
    again = run(_settings(model, dead, dead, "transformers", max_tokens=24), prompts, out)
    assert again == summary and _rows(out / "pairs.jsonl") == pairs

    # Other settings never resume into the same directory.
    with pytest.raises(ClairError, match="other settings"):
        run(_settings(model, dead, dead, "transformers", max_tokens=25), prompts, out)


def test_endpoint_that_fails_then_recovers(server, tmp_path):
    url, model = server
    proxy = FlakyProxy(url, fails=lambda n: n < 2)
    try:
        out = tmp_path / "clair"
        summary = run(
            _settings(model, proxy.base_url, proxy.base_url, "openai", max_tokens=8),
            _prompts_file(tmp_path, PROMPTS[:1]),
            out,
        )
    finally:
        proxy.close()
    assert proxy.requests == 2 + 2  # two 503s retried, then one policy answer and one revision
    assert summary.pairs + sum(summary.filtered.values()) == 1
    assert [r["id"] for r in _rows(out / "revised.jsonl")] == ["id-1"]


def test_endpoint_that_never_recovers_keeps_finished_work_and_resumes(server, tmp_path):
    url, model = server
    prompts = _prompts_file(tmp_path, PROMPTS[:2])
    out = tmp_path / "clair"
    dying = FlakyProxy(url, fails=lambda n: n >= 3)  # two policy answers and one revision, then down for good
    try:
        with pytest.raises(ClairError, match=r"reviser endpoint: .*gave up after 4 attempts.*1 of 2 answers are saved"):
            run(_settings(model, dying.base_url, dying.base_url, "openai", max_tokens=8), prompts, out)
    finally:
        dying.close()
    assert len(_rows(out / "rejected.jsonl")) == 2 and [r["id"] for r in _rows(out / "revised.jsonl")] == ["id-1"]

    healthy = FlakyProxy(url, fails=lambda n: False)
    try:
        summary = run(_settings(model, healthy.base_url, healthy.base_url, "openai", max_tokens=8), prompts, out)
    finally:
        healthy.close()
    assert healthy.requests == 1  # only the missing revision
    assert summary.pairs + sum(summary.filtered.values()) == 2
    assert [r["id"] for r in _rows(out / "revised.jsonl")] == ["id-1", "vi-1"]


def test_filter_reasons():
    prompt = Prompt("p", [{"role": "user", "content": "Apa ibu kota Indonesia?"}], "id")
    answer = "Ibu kota Indonesia adalah Surabaya."
    assert filter_reason(prompt, answer, "  ") == "empty_revision"
    assert filter_reason(prompt, answer, "Ibu  kota Indonesia\nadalah Surabaya. ") == "identical"
    assert (
        filter_reason(prompt, answer, "The capital of Indonesia is Jakarta, on the island of Java.") == "wrong_language"
    )
    assert filter_reason(prompt, answer, "Ibu kota Indonesia adalah Jakarta, yang terletak di pulau Jawa.") is None


def test_bad_prompt_records_name_the_line(tmp_path):
    with pytest.raises(ClairError, match=r"prompts.jsonl:2: 'lang' must be one of"):
        read_prompts(_prompts_file(tmp_path, [PROMPTS[0], {"id": "x", "lang": "xx", "prompt": "hi"}]))
    with pytest.raises(ClairError, match=r"prompts.jsonl:2: 'id' must be a unique"):
        read_prompts(_prompts_file(tmp_path, [PROMPTS[0], PROMPTS[0]]))
    with pytest.raises(ClairError, match=r"prompts.jsonl:1: give a non-empty 'prompt'"):
        read_prompts(
            _prompts_file(tmp_path, [{"id": "a", "lang": "th", "messages": [{"role": "assistant", "content": "hi"}]}])
        )
