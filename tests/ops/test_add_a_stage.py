"""docs/add-a-stage.md, followed: in a copy of the repository's tracked files, the page's file blocks are written as
they stand in the markdown (so the page cannot drift from what works), its commands run as shown, and the toy stage
runs, is registered, and refuses a bad value with the field named. Only the two files the page adds are new."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from recipes.artifacts.versions import Registry
from recipes.core.schema import RootConfig

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "add-a-stage.md"
SHARED = {f.name for f in fields(RootConfig)}
BLOCK = re.compile(r"^```(\w+)(?: file=(\S+))?\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks() -> tuple[dict[str, str], list[str], list[str]]:
    """(path -> content of the file blocks, the bash commands, the text blocks) in the page's order."""
    files, commands, texts = {}, [], []
    for kind, path, body in BLOCK.findall(DOC.read_text()):
        if path:
            files[path] = body
        elif kind == "bash":
            commands.append(body.strip())
        elif kind == "text":
            texts.append(body.strip())
    return files, commands, texts


def git(cwd: Path, *args: str) -> str:
    quiet = ["-c", "user.name=test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false"]
    return subprocess.run(["git", *quiet, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    """The tracked files of this checkout (as they are in the working tree), committed in a repository of their own."""
    root = tmp_path_factory.mktemp("added") / "repo"
    for name in git(REPO, "ls-files", "-z").split("\0"):
        source = REPO / name
        if name and source.is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name, follow_symlinks=False)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "copy")
    return root


def run(copy: Path, command: str, runs: Path) -> subprocess.CompletedProcess:
    """A command of the page, with this Python for `python`, from the copy's root, on the copy's code."""
    argv = shlex.split(command)
    assert argv[0] == "sealion"  # the console script is `python -m recipes` (the copy is not installed)
    env = {**os.environ, "PYTHONPATH": str(copy), "SEALION_RUNS": str(runs)}
    return subprocess.run(
        [sys.executable, "-m", "recipes", *argv[1:]], cwd=copy, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_walkthrough_adds_a_stage_with_two_files_and_runs_it(copy, tmp_path):
    files, commands, texts = blocks()
    assert sorted(files) == ["conf/stage/corpus_stats.yaml", "recipes/stages/corpus_stats.py"]
    assert len(commands) == 2 and all("\n" not in c for c in commands)  # one command line each
    for path, content in files.items():
        (copy / path).write_text(content)
    runs = tmp_path / "runs"

    done = run(copy, commands[0], runs)
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = runs / "smoke" / "corpus_stats"
    rows = [json.loads(line) for line in (run_dir / "artifact" / "counts.jsonl").read_text().splitlines()]
    corpus = sorted((copy / "data_prep" / "sample_corpus").glob("*.jsonl"))  # one file per language: <lang>.jsonl
    expected = {p.stem: sum(1 for line in p.read_text(encoding="utf-8").splitlines() if line.strip()) for p in corpus}
    assert {row["lang"]: row["documents"] for row in rows} == expected
    assert all(row["characters"] > row["documents"] for row in rows)
    assert json.loads((run_dir / "status.json").read_text())["state"] == "succeeded"
    resolved = yaml.safe_load((run_dir / "resolved.yaml").read_text())
    assert set(resolved) == SHARED | {"corpus_stats"}  # its job's config: the shared sections and its own
    assert resolved["corpus_stats"] == {"min_characters": 0}
    record = Registry(runs / "registry", create=False).get("smoke-corpus_stats")
    assert (record.stage, record.payload_kind) == ("corpus_stats", "jsonl")
    assert Path(record.artifact) == run_dir / "artifact"

    refused = run(copy, commands[1], runs)
    assert refused.returncode != 0
    assert texts[0] in refused.stdout + refused.stderr  # the error the page shows, naming the field
    assert texts[0].startswith("corpus_stats.min_characters: ")

    status = git(copy, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert sorted(status) == ["?? conf/stage/corpus_stats.yaml", "?? recipes/stages/corpus_stats.py"]
