"""Issue #14, items 1 and 6: a rerun never breaks the registry; unreadable records are named and skipped;
`recipes.artifacts.versions check|repair`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from recipes.artifacts.versions import CorruptRecord, Registry, RegistryWarning, read_record, run_registry
from recipes.core.config import to_object
from recipes.core.stage_context import StageContext
from recipes.runtime.stage_runner import register_version
from recipes.stages import compose

REPO = Path(__file__).resolve().parents[2]


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "recipes.versions", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "200"},
        timeout=60,
    )


def stage_run(root: Path, *overrides: str) -> StageContext:
    """A data_prep run directory as the launcher leaves it (manifest.json) with a payload in artifact/."""
    cfg = to_object(compose("data_prep", [f"launch.root={root}", *overrides]))
    ctx = StageContext(cfg, root / cfg.run.name / "data_prep")
    ctx.artifact_dir.mkdir(parents=True, exist_ok=True)
    config = {"data_prep": {"min_words": cfg.data_prep.min_words}}
    (ctx.run_dir / "manifest.json").write_text(json.dumps({"config": config}))
    (ctx.artifact_dir / "tokens.json").write_text("{}")
    return ctx


def test_a_rerun_registers_again_and_leaves_the_registry_whole(tmp_path):
    ctx = stage_run(tmp_path)
    register_version(ctx, "indexed_dataset")
    register_version(ctx, "indexed_dataset")  # unchanged: the same version (today: FileNotFoundError)
    registry = run_registry(ctx.cfg)
    assert [r.id for r in registry.all()] == ["smoke-data_prep-0.1.0"]
    changed = stage_run(tmp_path, "data_prep.min_words=30")
    register_version(changed, "indexed_dataset")  # another setting: the next version replaces the old one
    assert [r.id for r in registry.all()] == ["smoke-data_prep-0.2.0"]
    assert read_record(ctx.artifact_dir).manifest["config"]["data_prep"]["min_words"] == 30
    other = stage_run(tmp_path, "run.name=other")  # other runs of the same launch root still register
    register_version(other, "indexed_dataset")
    assert sorted(r.id for r in registry.all()) == ["other-data_prep-0.1.0", "smoke-data_prep-0.2.0"]
    listing = cli("--root", str(registry.root), "list")
    assert listing.returncode == 0 and "smoke-data_prep-0.2.0" in listing.stdout


def test_a_changed_payload_is_a_new_version(tmp_path):
    registry = Registry(tmp_path / "registry")
    art = tmp_path / "a"
    art.mkdir()
    (art / "w.bin").write_bytes(b"12")
    first = registry.register(art, name="m", stage="sft", payload_kind="hf")
    (art / "w.bin").write_bytes(b"1234")
    second = registry.register(art, name="m", stage="sft", payload_kind="hf")
    assert (first.version, second.version) == ("0.1.0", "0.2.0")
    assert registry.register(art, name="m", stage="sft", payload_kind="hf").id == "m-0.2.0"


@pytest.mark.parametrize(
    "content,says",
    [
        ('{"id": "m-0.1.0", "name": "m", "vers', "not valid JSON"),
        ('{"id": 1}', "field 'id' is 1 (int), expected a str"),
        ("[1, 2]", "holds a JSON list"),
    ],
)
def test_a_corrupt_record_is_named_skipped_and_repaired(tmp_path, content, says):
    registry = Registry(tmp_path / "registry")
    arts = []
    for name in ("good", "bad"):
        arts.append(tmp_path / "run" / name / "artifact")
        arts[-1].mkdir(parents=True)
        registry.register(arts[-1], name=name, stage="sft", payload_kind="hf")
    record = arts[1] / "version.json"
    record.write_text(content)
    with pytest.raises(CorruptRecord) as err:
        read_record(arts[1])
    assert str(err.value).startswith(f"{record}: ") and says in str(err.value)
    with pytest.warns(RegistryWarning, match=re.escape(f"skipping bad-0.1.0: {record}")):
        assert [r.id for r in registry.all()] == ["good-0.1.0"]
    shown = cli("--root", str(registry.root), "show", "bad-0.1.0")
    assert shown.returncode == 2 and shown.stdout.startswith(f"error: {record}:")
    assert len(shown.stdout.strip().splitlines()) == 1, shown.stdout
    listing = cli("--root", str(registry.root), "list")
    assert listing.returncode == 0 and "good-0.1.0" in listing.stdout
    assert "warning: skipping bad-0.1.0" in listing.stdout
    check = cli("--root", str(registry.root), "check")
    assert check.returncode == 1 and "skipping bad-0.1.0" in check.stdout
    repair = cli("--root", str(registry.root), "repair")
    assert repair.returncode == 0 and f"dropped bad-0.1.0 ({arts[1]})" in repair.stdout
    assert cli("--root", str(registry.root), "check").returncode == 0


def test_repair_rebuilds_a_lost_index_from_the_run_directories(tmp_path):
    ctx = stage_run(tmp_path)
    register_version(ctx, "indexed_dataset")
    index = tmp_path / "registry" / "index.json"
    index.write_text('{"smoke-data_prep-0.1.0": "/gone"')  # truncated
    check = cli("--root", str(index.parent), "check")
    assert check.returncode == 2 and check.stdout.startswith(f"error: {index}: not valid JSON")
    assert "repair" in check.stdout
    repair = cli("--root", str(index.parent), "repair")
    assert repair.returncode == 0 and "added smoke-data_prep-0.1.0" in repair.stdout, repair.stdout
    assert json.loads(index.read_text()) == {"smoke-data_prep-0.1.0": str(ctx.artifact_dir)}


def test_a_missing_root_is_an_error_not_a_new_registry(tmp_path):
    out = cli("--root", str(tmp_path / "typo"), "list")
    assert out.returncode == 2 and out.stdout.startswith(f"error: registry {tmp_path / 'typo'} does not exist")
    assert not (tmp_path / "typo").exists()
