"""Issue #14, item 6: inputs that used to fail with an engine's bare error now fail with one line naming the file
or field and the fix."""

from __future__ import annotations

import shutil

import pytest

from data_prep.curate import curate
from recipes.core.config import CONF_DIR, ConfigError, to_object
from recipes.core.stage_context import StageContext
from recipes.engines.mergekit_merge import fingerprint, load_settings, mergekit_config
from recipes.stages import compose
from recipes.submit import preflight
from tests.helpers.dataprep_corpus import write_corpus


def test_an_empty_parquet_is_named_and_a_failed_rerun_leaves_no_stale_summary(tmp_path):
    good = tmp_path / "good.jsonl"
    write_corpus(good, 5)
    out = tmp_path / "curation"
    curate([str(good)], str(out), show_progress=False)
    assert (out / "curation_summary.json").is_file()
    empty = tmp_path / "empty.parquet"
    empty.write_bytes(b"")
    with pytest.raises(ValueError) as err:
        curate([str(good), str(empty)], str(out), show_progress=False)
    assert str(err.value).startswith(f"input {empty}: not a readable Parquet file")
    assert not (out / "curation_summary.json").exists()  # today: the first run's summary beside new files


def test_an_empty_directory_is_not_a_dataset_name(tmp_path):
    (tmp_path / "raw").mkdir()
    with pytest.raises(FileNotFoundError, match=f"input {tmp_path / 'raw'}: an empty directory"):
        curate([str(tmp_path / "raw")], str(tmp_path / "out"), show_progress=False)


def test_an_empty_jsonl_says_so_not_lower_min_words(tmp_path):
    from recipes.stages import data_prep

    (tmp_path / "empty.jsonl").write_text("")
    cfg = to_object(
        compose(
            "data_prep", [f"launch.root={tmp_path}", f"data.sources=[{{path: '{tmp_path}/empty.jsonl', lang: id}}]"]
        )
    )
    run = tmp_path / "run"  # what the launcher writes before the job: the stage's records carry the launch key
    run.mkdir()
    (run / "resolved.yaml").write_text("{}")
    (run / "manifest.json").write_text('{"created": "2026-12-04T00:00:00+00:00"}')
    with pytest.raises(ValueError, match=f"data.sources hold no record \\({tmp_path}/empty.jsonl are empty\\)"):
        data_prep.execute(StageContext(cfg, run))


def test_a_truncated_safetensors_merge_input_is_named(tmp_path, gemma3_dir):
    model = tmp_path / "sft_a"
    model.mkdir()
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(gemma3_dir / name, model / name)
    with (gemma3_dir / "model.safetensors").open("rb") as f:
        (model / "model.safetensors").write_bytes(f.read(100))  # a copy cut inside its JSON header
    with pytest.raises(ValueError) as err:
        fingerprint(model)
    assert str(err.value).startswith(f"{model / 'model.safetensors'}: not a readable safetensors file")


def test_an_unfilled_merge_preset_names_the_fields_the_stage_takes():
    with pytest.raises(ValueError) as err:
        mergekit_config(load_settings(CONF_DIR / "merge" / "sft_ties.yaml"))
    assert "base_model='???base', models[0].path='???sft_a'" in str(err.value)
    assert "merge.base_model=" in str(err.value)
    findings = preflight.plan(to_object(compose("merge", ["+merge@merge=sft_ties"]))).errors
    assert [f.line() for f in findings][1] == (
        "merge.models[0].path: still the preset's placeholder '???sft_a'; "
        "fix: set merge.models.0.path=<model path or version id>"
    )


def test_removing_a_schema_key_names_it():
    with pytest.raises(ConfigError) as err:
        compose("cpt", ["~model.hf_id"])
    assert str(err.value) == (
        "model.hf_id: the schema declares it, so it cannot be removed (~); set it instead: model.hf_id=<value>"
    )
