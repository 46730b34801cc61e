"""Version records: a data -> cpt -> sft -> merge -> eval chain, lineage, config/score diffs, cards, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recipes.artifacts.versions import Registry, read_record

REPO = Path(__file__).resolve().parents[2]


def manifest(lr, gbs, extra=None):
    config = {"model": {"name": "gemma3_270m"}, "optimizer": {"lr": lr}, "train": {"global_batch_size": gbs}}
    config.update(extra or {})
    return {
        "config": config,
        "git": {"commit": "abc123", "dirty": False},
        "data_blend": "/data/blend.json",
        "container_image": "nvcr.io/nvidia/nemo:25.09",
    }


@pytest.fixture()
def chain(tmp_path):
    reg = Registry(tmp_path / "registry")

    def artifact(name):
        path = tmp_path / "artifacts" / name
        path.mkdir(parents=True)
        (path / "payload.txt").write_text(name)
        return path

    data = reg.register(artifact("data"), name="sea-blend", stage="data_prep", payload_kind="indexed_dataset")
    cpt = reg.register(
        artifact("cpt"),
        name="sealion-cpt",
        stage="cpt",
        payload_kind="megatron",
        parents=[data.id],
        manifest=manifest(1e-5, 256),
    )
    sft_a = reg.register(
        artifact("sft_a"),
        name="sealion-sft",
        stage="sft",
        payload_kind="hf",
        parents=[cpt.id],
        manifest=manifest(2e-6, 128),
    )
    sft_b = reg.register(
        artifact("sft_b"),
        name="sealion-sft",
        stage="sft",
        payload_kind="hf",
        parents=["sealion-cpt@0.1.0"],
        manifest=manifest(1e-6, 128, {"sft": {"epochs": 2}}),
    )
    merged = reg.register(
        artifact("merge"),
        name="sealion-merge",
        stage="merge",
        payload_kind="hf",
        parents=[sft_a.id, str(tmp_path / "artifacts" / "sft_b")],
    )
    ev = reg.register(artifact("eval"), name="sealion-eval", stage="eval", payload_kind="eval", parents=[merged.id])
    return reg, {"data": data, "cpt": cpt, "sft_a": sft_a, "sft_b": sft_b, "merge": merged, "eval": ev}


def test_ids_are_name_and_semver_and_versions_bump(chain):
    reg, r = chain
    assert r["sft_a"].id == "sealion-sft-0.1.0"
    assert r["sft_b"].id == "sealion-sft-0.2.0"
    assert reg.get("sealion-sft").id == "sealion-sft-0.2.0"  # bare name: highest version
    assert reg.get("sealion-sft@0.1.0").id == "sealion-sft-0.1.0"
    # the record lives beside the payload
    assert read_record(r["cpt"].artifact).parents == ["sea-blend-0.1.0"]


def test_lineage_tree_follows_parents_to_the_data(chain):
    reg, r = chain
    tree = reg.lineage(r["eval"].id)
    assert tree.record.id == "sealion-eval-0.1.0"
    (merge,) = tree.parents
    assert [p.record.id for p in merge.parents] == ["sealion-sft-0.1.0", "sealion-sft-0.2.0"]
    assert tree.ids() == [
        "sealion-eval-0.1.0",
        "sealion-merge-0.1.0",
        "sealion-sft-0.1.0",
        "sealion-cpt-0.1.0",
        "sea-blend-0.1.0",
        "sealion-sft-0.2.0",
        "sealion-cpt-0.1.0",
        "sea-blend-0.1.0",
    ]


def test_resolve_takes_ids_names_and_paths(chain, tmp_path):
    reg, r = chain
    assert reg.resolve("sealion-cpt-0.1.0") == Path(r["cpt"].artifact)
    assert reg.resolve("sealion-sft@0.2.0") == Path(r["sft_b"].artifact)
    assert reg.resolve(tmp_path / "artifacts" / "data") == Path(r["data"].artifact)
    with pytest.raises(KeyError, match="no version 'sealion-rl'"):
        reg.resolve("sealion-rl")


def test_config_and_score_diff(chain):
    reg, r = chain
    reg.add_metrics(r["sft_a"].id, "seahelm", {"id": {"mcq": 0.50}, "th": {"mcq": 0.40}})
    reg.add_metrics(r["sft_b"].id, "seahelm", {"id": {"mcq": 0.55}, "vi": {"mcq": 0.30}})
    d = reg.diff(r["sft_a"].id, r["sft_b"].id)
    assert d.changed == {"optimizer.lr": (2e-6, 1e-6)}
    assert d.added == {"sft.epochs": 2}
    assert d.removed == {}
    assert d.scores["seahelm.id.mcq"] == pytest.approx((0.50, 0.55, 0.05))
    assert d.scores["seahelm.th.mcq"] == (0.40, None, None)
    assert d.scores["seahelm.vi.mcq"] == (None, 0.30, None)
    back = reg.diff(r["sft_b"].id, r["sft_a"].id)
    assert back.removed == {"sft.epochs": 2}


def test_metrics_are_timestamped_and_persisted(chain):
    reg, r = chain
    reg.add_metrics(r["merge"].id, "perplexity", {"id": 12.5})
    on_disk = json.loads((Path(r["merge"].artifact) / "version.json").read_text())
    assert on_disk["metrics"]["perplexity"]["scores"] == {"id": 12.5}
    assert on_disk["metrics"]["perplexity"]["recorded"].startswith("20")


def test_bad_registrations_name_the_field(chain, tmp_path):
    reg, r = chain
    with pytest.raises(ValueError, match="already registered"):
        reg.register(r["cpt"].artifact, name="sealion-cpt", version="0.1.0", stage="cpt", payload_kind="megatron")
    with pytest.raises(ValueError, match="payload_kind='safetensors'"):
        reg.register(r["cpt"].artifact, name="x", stage="cpt", payload_kind="safetensors")
    with pytest.raises(ValueError, match="not semantic"):
        reg.register(r["cpt"].artifact, name="x", version="v2", stage="cpt", payload_kind="hf")
    with pytest.raises(FileNotFoundError, match="not a directory"):
        reg.register(tmp_path / "missing", name="x", stage="cpt", payload_kind="hf")


def test_model_card_lists_lineage_config_and_scores(chain):
    reg, r = chain
    reg.add_metrics(r["sft_a"].id, "seahelm", {"id": {"mcq": 0.5}})
    card = reg.model_card(r["sft_a"].id)
    assert card.startswith("# sealion-sft 0.1.0")
    assert "`sealion-cpt-0.1.0`" in card and "  - `sea-blend-0.1.0`" in card
    assert "| `optimizer.lr` | `2e-06` |" in card
    assert "| seahelm | id.mcq | 0.5 |" in card
    assert "/data/blend.json" in card and "Intended use and limitations" in card


def test_cli_lists_trees_and_diffs(chain):
    reg, r = chain
    env = {**os.environ, "COLUMNS": "200"}

    def cli(*args):
        out = subprocess.run(
            [sys.executable, "-m", "recipes.versions", "--root", str(reg.root), *args],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=env,
            timeout=60,
        )
        return out

    listing = cli("list")
    assert listing.returncode == 0 and "sealion-merge-0.1.0" in listing.stdout
    tree = cli("tree", r["eval"].id).stdout
    assert tree.index("sealion-eval-0.1.0") < tree.index("sealion-merge-0.1.0") < tree.index("sea-blend-0.1.0")
    diff = cli("diff", r["sft_a"].id, r["sft_b"].id).stdout
    assert "optimizer.lr" in diff and "sft.epochs" in diff and "added" in diff
    missing = cli("show", "nope")
    assert missing.returncode == 2 and "no version 'nope'" in missing.stdout
