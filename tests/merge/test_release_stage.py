"""The release stage end to end on this machine: the real Gemma 3 270M released as HF BF16 (perplexity-checked on
the sample corpus), the variant and the release itself registered as versions with the model as parent."""

import json
import os
import subprocess
import sys
from pathlib import Path

from recipes.artifacts.versions import Registry

REPO = Path(__file__).resolve().parents[2]


def test_release_stage_registers_its_variants(gemma3_dir, tmp_path):
    source = tmp_path / "apo"
    source.mkdir()
    for f in Path(gemma3_dir).iterdir():  # linked, so the shared fixture dir gets no version.json
        (source / f.name).symlink_to(f)
    registry = Registry(tmp_path / "runs" / "registry")
    parent = registry.register(source, name="smoke-apo", stage="apo", payload_kind="hf")
    texts = f"{REPO}/data_prep/sample_corpus/[it]*.jsonl"  # id, th, tl, ta
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "recipes.release",
            f"launch.root={tmp_path / 'runs'}",
            f"run.input={source}",
            "release.variants=[hf_bf16]",
            f"release.quality_texts=['{texts}']",
            "release.name=smoke-release",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "250"},
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    artifact = tmp_path / "runs" / "smoke" / "release" / "artifact"
    (bf16,) = json.loads((artifact / "release.json").read_text())
    assert bf16["variant"] == "hf_bf16" and bf16["status"] == "built"
    assert set(bf16["perplexity"]) == {"id", "th", "tl", "ta"} and all(v > 1 for v in bf16["perplexity"].values())
    variant = registry.get(bf16["version_id"])
    assert variant.parents == [parent.id] and variant.payload_kind == "hf"
    assert "release_perplexity" in variant.metrics
    (release,) = registry.versions_of("smoke-release")
    assert release.payload_kind == "release" and release.stage == "release"
