"""The select stage's config, preflight and pipeline wiring (no model loaded)."""

from __future__ import annotations

import json
import shutil

import pytest

from recipes.core.config import ConfigError, to_object
from recipes.pipeline import plan_stages
from recipes.stages import compose
from recipes.stages import select as select_stage
from recipes.submit import preflight

CPU_POOL_ROWS = 16  # data_prep/sample_select/pool.jsonl


def select_cfg(tmp_path, *overrides):
    return to_object(compose("select", [f"launch.root={tmp_path}", *overrides]))


def errors(cfg):
    """check_select's errors (the smoke preset's rows over its 32 tokens are also counted, as warnings)."""
    return [f for f in select_stage.check_select(cfg) if f.severity == "error"]


def test_the_smoke_preset_passes_preflight(tmp_path):
    cfg = select_cfg(tmp_path)
    assert (cfg.select.proj_dim, cfg.select.checkpoints, cfg.select.candidate_gradient) == (256, 2, "sgd")
    assert errors(cfg) == [] and preflight.check_paths(cfg) == []


def test_the_paper_defaults():
    s = to_object(compose("select", ["select=less"])).select
    assert (s.proj_dim, s.checkpoints, s.select_fraction, s.warmup_fraction, s.lora_r, s.lora_alpha, s.lr) == (
        8192,
        4,
        0.05,
        0.05,
        128,
        512,
        2e-5,
    )
    assert s.candidate_gradient == "adam"


def test_feature_storage_that_does_not_fit_is_refused(tmp_path):
    """16 candidates x 2^37 dims x 2 checkpoints x 4 bytes = 16 TiB, more than any test machine's free disk."""
    free = shutil.disk_usage(tmp_path).free
    dim = 2**37
    assert CPU_POOL_ROWS * dim * 2 * 4 > free
    cfg = select_cfg(tmp_path, f"select.proj_dim={dim}")
    assert select_stage.feature_bytes(cfg, CPU_POOL_ROWS) == CPU_POOL_ROWS * dim * 2 * 4
    [finding] = errors(cfg)
    assert finding.field == "select.proj_dim" and "16384.0 GiB" in finding.message and "launch.root" in finding.fix
    fits = select_cfg(tmp_path, f"select.proj_dim={free // (CPU_POOL_ROWS * 2 * 4) // 2}")
    assert errors(fits) == []


def test_missing_pool_and_target_are_named(tmp_path):
    cfg = select_cfg(tmp_path, f"select.candidates={tmp_path}/none.jsonl", f"+select.targets.x={tmp_path}/t.jsonl")
    assert {f.field for f in preflight.check_paths(cfg)} == {"select.candidates", "select.targets.x"}
    assert [f.field for f in errors(select_cfg(tmp_path, "select.candidates=null"))] == ["select.candidates"]
    with pytest.raises(ConfigError, match="^select.candidate_gradient='sign': use adam"):  # the settings' own check
        select_cfg(tmp_path, "select.candidate_gradient=sign")


def test_clair_after_select_reads_its_selection_and_keeps_the_model(tmp_path):
    """In a pipeline X -> select -> clair (X: data_prep here, rl in the 27B recipe), clair's prompts may be select's
    output (made by an earlier stage) and clair's upstream stays X, not select's JSONL artifact."""
    selected = f"{tmp_path}/smoke/select/artifact/selected.jsonl"
    launches = plan_stages(
        [
            f"launch.root={tmp_path}",
            "launch.dryrun=true",
            "pipeline.stages=[data_prep,select,clair]",
            f"clair.prompts={selected}",
        ]
    )
    by_name = {launch.name: launch for launch in launches}
    assert by_name["select"].cfg.run.upstream == "data_prep"
    assert by_name["clair"].cfg.run.upstream == "data_prep"
    # lineage: clair was made from data_prep's model and select's prompts; select from data_prep alone
    parents = {
        name: json.loads((launch.run_dir / "manifest.json").read_text())["parents"] for name, launch in by_name.items()
    }
    assert parents["select"] == ["data_prep"] and parents["clair"] == ["data_prep", "select"]


def test_bad_select_numbers_are_all_named_at_once(tmp_path):
    cfg = select_cfg(
        tmp_path, "select.select_fraction=1.5", "select.warmup_fraction=0", "select.proj_dim=0", "select.checkpoints=0"
    )
    findings = select_stage.check_select(cfg)
    assert {f.field for f in findings} == {
        "select.select_fraction",
        "select.warmup_fraction",
        "select.proj_dim",
        "select.checkpoints",
    }
    assert all(f.fix for f in findings)


def test_a_waiting_array_task_stops_when_the_warm_up_failed(tmp_path, monkeypatch):
    """Task 0 trains the warm-up; when it fails, the other tasks stop on its marker instead of polling until the
    job's time limit, and say why."""
    from recipes.core.stage_context import ArrayTask
    from recipes.posttrain.prompt_selection.pool import Prompt
    from recipes.posttrain.prompt_selection.settings import SelectionSettings
    from recipes.stages import select

    monkeypatch.setattr(select, "WARMUP_POLL_S", 0.01)
    pool = [Prompt("a", [{"role": "user", "content": "x"}], "id", "id")]
    (tmp_path / select.WARMUP_FAILED).write_text("OutOfMemoryError: CUDA out of memory\n")
    with pytest.raises(RuntimeError, match="warm-up failed .OutOfMemoryError"):
        select.wait_for_warmup(tmp_path, pool, SelectionSettings(model="m"), ArrayTask(1, 4))


def test_a_model_whose_float32_weights_exceed_one_gpu_is_refused(tmp_path):
    """Gemma 3 27B: about 27e9 parameters x 4 bytes = 100 GiB, more than one 80 GiB GPU (cluster=slurm); the 4B's
    16 GiB fit."""
    cluster = ["cluster=slurm", "cluster.account=a", "cluster.partition=p"]
    big = select_cfg(tmp_path, *cluster, "model=gemma3_27b")
    (finding,) = [f for f in select_stage.check_select(big) if f.field == "select.model"]
    assert "float32" in finding.message and "select.model=google/gemma-3-4b-it" in finding.fix
    for fits in (["model=gemma3_4b"], ["model=gemma3_27b", "select.model=google/gemma-3-4b-it"]):
        findings = select_stage.check_select(select_cfg(tmp_path, *cluster, *fits))
        assert not [f for f in findings if f.field == "select.model"]


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return path


GOOD = {"id": "a", "lang": "id", "prompt": "Berapa 2 + 2?"}


@pytest.mark.parametrize(
    "bad, says",
    [
        ({"id": "b", "lang": "id"}, "row 2 (id 'b'): needs 'prompt' or 'messages'"),
        ({"id": "b", "lang": "xx", "prompt": "?"}, "lang 'xx' is not one of the project's languages"),
        (
            {"id": "b", "lang": "id", "messages": [{"role": "user"}]},
            "messages[0] needs a 'role' and a non-empty 'content'",
        ),
        ({"id": 7, "lang": "id", "prompt": "?"}, "id '7' repeats (ids compare as strings)"),
    ],
)
def test_a_bad_target_row_is_named_at_launch(tmp_path, bad, says):
    """Before any GPU time: preflight reads the target file as the stage does (it used to be read only after the
    warm-up and every candidate feature)."""
    first = {**GOOD, "id": "7"} if bad.get("id") == 7 else GOOD
    target = _jsonl(tmp_path / "t.jsonl", [first, bad])
    cfg = select_cfg(tmp_path, "~select.targets.id_math", f"+select.targets.x={target}")
    [finding] = errors(cfg)
    assert finding.field == "select.targets.x" and says in finding.message, finding


def test_the_sample_target_beside_the_users_is_refused(tmp_path):
    """`+select.targets.x=` adds to the smoke preset's targets (Hydra merges it): preflight says how to drop the
    sample's, whose picks would otherwise go into selected.jsonl for CLAIR."""
    target = _jsonl(tmp_path / "t.jsonl", [GOOD])
    [finding] = errors(select_cfg(tmp_path, f"+select.targets.x={target}"))
    assert finding.field == "select.targets.id_math" and finding.fix == "drop it: ~select.targets.id_math"
    replaced = select_cfg(tmp_path, "~select.targets.id_math", f"+select.targets.x={target}")
    assert dict(replaced.select.targets) == {"x": str(target)}
    assert errors(replaced) == []


def test_rows_over_max_tokens_are_counted_not_refused(tmp_path):
    """With the real Gemma 3 tokenizer (the fixture, the smoke model): one of two pool rows is longer than 12
    tokens; preflight warns with the count, and the stage's encoding cuts it to 12 and keeps answer tokens even
    where the conversation's context alone is longer."""
    from transformers import AutoTokenizer

    from recipes.gemma3_fixture import build
    from recipes.posttrain.prompt_selection.pool import read_prompts
    from recipes.posttrain.prompt_selection.tokens import IGNORE, encode

    long_chat = {
        "id": "b",
        "lang": "en",
        "messages": [
            {"role": "user", "content": "Please explain, in as much detail as you can manage, how rain forms. " * 3},
            {"role": "assistant", "content": "Water vapour cools and condenses."},
        ],
    }
    pool, target = _jsonl(tmp_path / "pool.jsonl", [GOOD, long_chat]), _jsonl(tmp_path / "t.jsonl", [GOOD])
    findings = select_stage.check_select(
        select_cfg(
            tmp_path,
            f"select.candidates={pool}",
            "select.max_tokens=12",
            "~select.targets.id_math",
            f"+select.targets.x={target}",
        )
    )
    assert [(f.field, f.severity) for f in findings] == [("select.candidates", "warning")]
    assert findings[0].message.startswith("1 of 2 rows are longer than 12 tokens")
    ids, labels = encode(AutoTokenizer.from_pretrained(build()), read_prompts(pool)[1], 12)
    assert len(ids) == 12 and 0 < sum(label != IGNORE for label in labels) < 12


def test_a_projection_that_does_not_split_into_chunks_is_refused(tmp_path):
    [finding] = errors(select_cfg(tmp_path, "select.proj_dim=258"))
    assert finding.field == "select.proj_dim" and "multiple of 4" in finding.message
