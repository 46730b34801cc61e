"""The select stage's config, preflight and pipeline wiring (no model loaded)."""

from __future__ import annotations

import shutil

from recipes.core.config import compose, to_object
from recipes.pipeline import plan_stages
from recipes.submit import preflight

CPU_POOL_ROWS = 16  # data_prep/sample_select/pool.jsonl


def select_cfg(tmp_path, *overrides):
    return to_object(compose("select", [f"launch.root={tmp_path}", *overrides]))


def test_the_smoke_preset_passes_preflight(tmp_path):
    cfg = select_cfg(tmp_path)
    assert (cfg.select.proj_dim, cfg.select.checkpoints, cfg.select.candidate_gradient) == (256, 2, "sgd")
    assert preflight.check_select(cfg) == [] and preflight.check_paths(cfg) == []


def test_the_paper_defaults():
    s = to_object(compose("select", ["select=less"])).select
    assert (s.proj_dim, s.checkpoints, s.select_fraction, s.warmup_fraction, s.lora_r, s.lora_alpha, s.lr) == \
        (8192, 4, 0.05, 0.05, 128, 512, 2e-5)
    assert s.candidate_gradient == "adam"


def test_feature_storage_that_does_not_fit_is_refused(tmp_path):
    """16 candidates x 2^37 dims x 2 checkpoints x 4 bytes = 16 TiB, more than any test machine's free disk."""
    free = shutil.disk_usage(tmp_path).free
    dim = 2 ** 37
    assert CPU_POOL_ROWS * dim * 2 * 4 > free
    cfg = select_cfg(tmp_path, f"select.proj_dim={dim}")
    assert preflight.feature_bytes(cfg, CPU_POOL_ROWS) == CPU_POOL_ROWS * dim * 2 * 4
    [finding] = preflight.check_select(cfg)
    assert finding.field == "select.proj_dim" and "16384.0 GiB" in finding.message and "launch.root" in finding.fix
    fits = select_cfg(tmp_path, f"select.proj_dim={free // (CPU_POOL_ROWS * 2 * 4) // 2}")
    assert preflight.check_select(fits) == []


def test_missing_pool_and_target_are_named(tmp_path):
    cfg = select_cfg(tmp_path, f"select.candidates={tmp_path}/none.jsonl", f"+select.targets.x={tmp_path}/t.jsonl")
    assert {f.field for f in preflight.check_paths(cfg)} == {"select.candidates", "select.targets.x"}
    assert [f.field for f in preflight.check_select(select_cfg(tmp_path, "select.candidates=null"))] == \
        ["select.candidates"]
    assert [f.field for f in preflight.check_select(select_cfg(tmp_path, "select.candidate_gradient=sign"))] == \
        ["select.candidate_gradient"]


def test_clair_after_select_reads_its_selection_and_keeps_the_model(tmp_path):
    """In a pipeline X -> select -> clair (X: data_prep here, rl in the 27B recipe), clair's prompts may be select's output (made by an earlier stage) and
    clair's upstream stays X, not select's JSONL artifact."""
    selected = f"{tmp_path}/smoke/select/artifact/selected.jsonl"
    launches = plan_stages([f"launch.root={tmp_path}", "launch.dryrun=true", "pipeline.stages=[data_prep,select,clair]",
                            f"clair.prompts={selected}"])
    by_name = {launch.name: launch for launch in launches}
    assert by_name["select"].cfg.run.upstream == "data_prep"
    assert by_name["clair"].cfg.run.upstream == "data_prep"
