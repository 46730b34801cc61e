"""One chat completion against an OpenAI-compatible endpoint (vLLM, `transformers serve`, a hosted API).

Shared by the synthetic eval-set generator and the CLAIR pair builder so that both retry the same way:
exponential backoff on transport errors, 429 and 5xx (a busy or restarting server), immediate failure on other
4xx (a wrong model name or request does not get better by waiting).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Protocol

import httpx


class EndpointError(RuntimeError):
    """The endpoint kept failing after every retry."""


class ChatSettings(Protocol):
    """What `complete` reads; `EndpointSettings` and `data_prep.synthetic.SyntheticSettings` both provide it."""

    base_url: str
    model: str
    api_key_env: str
    temperature: float
    max_tokens: int
    max_retries: int
    backoff_s: float
    timeout_s: float


@dataclass
class EndpointSettings:
    base_url: str = "http://localhost:8000/v1"
    model: str = "model"  # the served model name the endpoint expects
    api_key_env: str = "OPENAI_API_KEY"  # read from the environment when set; never stored
    temperature: float = 0.0
    max_tokens: int = 1024
    max_retries: int = 5
    backoff_s: float = 1.0
    timeout_s: float = 300.0
    seed: int | None = None  # sent as `seed` when set: reproducible sampling where the server supports it


def open_client(settings: ChatSettings) -> httpx.Client:
    """An httpx client for the endpoint, with a bearer token when `api_key_env` is set in the environment."""
    key = os.environ.get(settings.api_key_env)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=settings.base_url, headers=headers, timeout=settings.timeout_s)


def complete(client: httpx.Client, settings: ChatSettings, messages: str | list[dict]) -> str:
    """One chat completion (a string is one user turn), retried with exponential backoff on transport errors, 429
    and 5xx; raises EndpointError naming the endpoint once the retries are spent."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    body = {
        "model": settings.model,
        "messages": messages,
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
    }
    seed = getattr(settings, "seed", None)  # SyntheticSettings has one; EndpointSettings not
    if seed is not None:
        body["seed"] = seed
    for attempt in range(settings.max_retries + 1):
        try:
            response = client.post("/chat/completions", json=body)
            if response.status_code != 429 and response.status_code < 500:
                response.raise_for_status()
                return response.json()["choices"][0]["message"]["content"]
            error = f"HTTP {response.status_code}"
        except httpx.TransportError as exc:
            error = repr(exc)
        if attempt < settings.max_retries:
            time.sleep(settings.backoff_s * 2**attempt)
    raise EndpointError(f"{settings.base_url}: gave up after {settings.max_retries + 1} attempts ({error})")
