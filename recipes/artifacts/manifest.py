"""The run manifest written beside every run: what ran, from which code, on which data, from which parents."""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

from recipes.core import secret_values
from recipes.core.atomic import write_text_atomic
from recipes.core.config import REPO_ROOT


def git_state(repo: Path = REPO_ROOT) -> dict[str, Any]:
    def git(*args: str) -> str | None:
        out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def file_sha256(path: str | os.PathLike | None) -> str | None:
    if not path or not os.path.isfile(path):
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def redact(value: Any, secret_names: list[str]) -> Any:
    """Replace any string equal to (or containing) the value of a named secret in the environment, and any value
    that looks like a credential (`recipes.core.secret_values`: preflight refuses those, this is the second guard)."""
    value = secret_values.redact(value)
    secrets = {name: os.environ[name] for name in secret_names if os.environ.get(name)}
    if not secrets:
        return value

    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, str):
            for name, secret in secrets.items():
                v = v.replace(secret, f"<secret:{name}>")
        return v

    return walk(value)


def build(config: dict[str, Any], overrides: list[str], parents: list[str]) -> dict[str, Any]:
    stage = config["stage"]["name"]
    image = config["cluster"]["containers"].get(config["stage"]["container"])
    blend = config.get("dataset", {}).get("blend")  # the training stages' data blend
    return {
        "stage": stage,
        "run": config["run"]["name"],
        "experiment": config["run"]["experiment"],
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "user": getpass.getuser(),
        "git": git_state(),
        "container_image": image,
        "data_blend": blend,
        "data_blend_sha256": file_sha256(blend),
        "parents": parents,
        "overrides": overrides,
        "config": config,
    }


def write(path: Path, manifest: dict[str, Any], secret_names: list[str]) -> None:
    path.write_text(json.dumps(redact(manifest, secret_names), indent=2, default=str) + "\n")


def record(path: Path, key: str, value: Any) -> None:
    """Add what the job itself determined (e.g. data_prep's resume keys) to a written manifest, atomically."""
    data = json.loads(path.read_text())
    data[key] = value
    write_text_atomic(path, json.dumps(data, indent=2, default=str) + "\n")
