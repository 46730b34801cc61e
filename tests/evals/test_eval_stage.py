"""The eval stage renders SEA-HELM and lm-eval for a 27B version on Slurm (dry run) and picks the model it evaluates
from the config: eval.model (path, registered version or hub id), else the upstream stage's model."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evals.report import load_versions
from recipes.artifacts.versions import Registry
from recipes.core.config import to_object
from recipes.core.stage_context import StageContext
from recipes.stages import compose, stage_context
from recipes.stages import eval as eval_stage
from recipes.stages.eval import model_to_evaluate
from tests.helpers.engine_results import write_lm_eval, write_run

REPO = Path(__file__).resolve().parents[2]
EVAL_27B = ["experiment=sealion_v4_27b", "cluster=slurm", "launch.dryrun=true", "launch.check_paths=false"]


def run(module, *args):
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "250"},
        timeout=300,
    )


def test_27b_eval_renders_seahelm_and_lm_eval_on_one_gpu_node(tmp_path):
    model = "/shared/models/sealion-v4-27b"
    out = run("recipes.eval", *EVAL_27B, f"launch.root={tmp_path}", f"eval.model={model}")
    assert out.returncode == 0, out.stderr
    launch = tmp_path / "sealion_v4_27b" / "eval" / "launch"
    results = tmp_path / "sealion_v4_27b" / "eval" / "artifact"
    seahelm = (launch / "seahelm.sh").read_text()
    assert seahelm.count("src/seahelm_evaluation.py") == 8  # SEA-HELM's 8 runs
    assert f"--model_name {model}" in seahelm and "tensor_parallel_size=4" in seahelm
    assert f'out={results / "seahelm"}/"$key"' in seahelm and '--output_dir "$out"' in seahelm
    lm_eval = (launch / "lm_eval.sh").read_text()
    assert f"pretrained={model},tensor_parallel_size=4,data_parallel_size=2" in lm_eval
    assert "--tasks leaderboard" in lm_eval and f"--output_path {results / 'lm_eval'}" in lm_eval
    sbatch = (launch / "sbatch.sh").read_text()
    assert "#SBATCH --gpus-per-node=8" in sbatch and "sealion-eval.sqsh" in sbatch


def test_the_bare_27b_eval_evaluates_the_hub_id(tmp_path):
    out = run("recipes.eval", *EVAL_27B, f"launch.root={tmp_path}")
    assert out.returncode == 0, out.stderr
    seahelm = (tmp_path / "sealion_v4_27b" / "eval" / "launch" / "seahelm.sh").read_text()
    assert "--model_name google/gemma-3-27b-it " in seahelm


def test_a_missing_model_path_is_refused_at_preflight(tmp_path):
    out = run("recipes.eval", "experiment=sealion_v4_27b", f"launch.root={tmp_path}", "eval.model=/no/such/model")
    assert out.returncode == 2
    assert "eval.model: '/no/such/model' is no existing path, registered version or hub id" in out.stderr


def test_unknown_suite_is_refused(tmp_path):
    out = run("recipes.eval", *EVAL_27B, f"launch.root={tmp_path}", "eval.model=/m", "eval.suites=[seahelm,mmlu]")
    assert out.returncode == 2 and "error: eval.suites: unknown ['mmlu']" in out.stderr


def test_pipeline_eval_evaluates_the_apo_model(tmp_path):
    out = run(
        "recipes.pipeline",
        *EVAL_27B,
        f"launch.root={tmp_path}",
        "pipeline.stages=[apo,eval]",
        "cluster.account=sealion",
        "cluster.partition=gpu",
        "launch.check_paths=false",
    )
    assert out.returncode == 0, out.stderr
    apo_model = tmp_path / "sealion_v4_27b" / "apo" / "artifact"
    assert f"--model_name {apo_model} " in (tmp_path / "sealion_v4_27b" / "eval" / "launch" / "seahelm.sh").read_text()


@pytest.mark.parametrize("ref_kind", ["name", "id", "path"])
def test_eval_model_resolves_registered_versions(tmp_path, ref_kind):
    artifact = tmp_path / "model"
    artifact.mkdir()
    record = Registry(tmp_path / "registry").register(
        artifact, name="sealion-v4-27b-apo", stage="apo", payload_kind="hf"
    )
    ref = {"name": record.name, "id": record.id, "path": str(artifact)}[ref_kind]
    cfg = to_object(compose("eval", [f"launch.root={tmp_path}", f"eval.model={ref}"]))
    assert model_to_evaluate(StageContext(cfg, tmp_path / "run")) == str(artifact.resolve())


def test_smoke_eval_after_data_prep_evaluates_the_base_model(tmp_path):
    cfg = to_object(compose("eval", [f"launch.root={tmp_path}", "run.upstream=data_prep"]))
    assert model_to_evaluate(stage_context(cfg, tmp_path / "run")) == cfg.model.hf_id


def test_eval_after_a_hugging_face_stage_evaluates_its_artifact(tmp_path):
    """merge's payload is the Hugging Face model (the registry says so; the core does not know merge)."""
    cfg = to_object(compose("eval", [f"launch.root={tmp_path}", "run.upstream=merge"]))
    assert model_to_evaluate(stage_context(cfg, tmp_path / "run")) == str(tmp_path / "merge" / "artifact")
    with pytest.raises(ValueError, match="upstream_payload: unset for run.upstream=merge"):
        model_to_evaluate(StageContext(cfg, tmp_path / "run"))  # a context built without the registry


def test_execute_writes_every_suite_with_the_seeds_of_the_runs(tmp_path, monkeypatch):
    """The job: the rendered scripts run (here: SEA-HELM's and lm-eval's outputs are already there), each suite is
    parsed into results.json under its name, SEA-HELM's from the folder of the model's key with SEA-HELM's seed of
    each run, and the report reads them."""
    model = "google/gemma-3-27b-it"
    cfg = to_object(
        compose(
            "eval",
            [
                f"launch.root={tmp_path}",
                f"eval.model={model}",
                "eval.suites=[seahelm,lm_eval]",
                "eval.seahelm.runs=[0,1]",
            ],
        )
    )
    ctx = StageContext(cfg, tmp_path / "run")
    eval_stage.render(ctx)
    for run in (0, 1):
        write_run(ctx.artifact_dir / "seahelm" / "hub-google--gemma-3-27b-it", model, run)
        write_run(ctx.artifact_dir / "seahelm" / "sha256-0123456789abcdef", model, run)  # another model's runs
    write_lm_eval(ctx.artifact_dir / "lm_eval", model)
    ran = []
    monkeypatch.setattr(eval_stage.subprocess, "run", lambda argv, check, env=None: ran.append((argv, env)))
    eval_stage.execute(ctx)
    assert [Path(argv[1]).name for argv, _ in ran] == ["seahelm.sh", "lm_eval.sh"]
    assert ran[0][1]["SEAHELM_MODEL_KEY"] == "hub-google--gemma-3-27b-it"
    results = json.loads((ctx.artifact_dir / "results.json").read_text())
    assert results["model"] == model and results["seahelm"]["seeds"] == {"0": 25008113, "1": 42008474}
    assert results["seahelm"]["model_key"] == "hub-google--gemma-3-27b-it"
    assert all("/hub-google--gemma-3-27b-it/" in f for f in results["seahelm"]["files"])
    [version] = load_versions([str(ctx.artifact_dir)])
    assert set(version.sea_average) == {"seahelm"} and "lm_eval (raw)/en" in version.languages


def test_a_registered_version_is_keyed_by_its_id_other_weights_by_their_hash(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for folder, weights in ((first, b"\x00" * 64), (second, b"\x01" * 64)):
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(weights)
    key = eval_stage.seahelm_model_key(str(first))
    assert key.startswith("sha256-") and key != eval_stage.seahelm_model_key(str(second))
    (second / "model.safetensors").write_bytes(b"\x00" * 64)  # retrained to the same bytes: the same key
    assert eval_stage.seahelm_model_key(str(second)) == key
    record = Registry(tmp_path / "registry").register(first, name="sealion-v4-27b-apo", stage="apo", payload_kind="hf")
    assert eval_stage.seahelm_model_key(str(first)) == record.id


def test_local_eval_without_held_out_data_scores_a_cap_of_the_training_documents(tmp_path, gemma3_dir):
    """No eval.perplexity_data: perplexity over the first eval.perplexity_max_documents documents of each language of
    the training data, the figure used / available in results.json for the report."""
    corpus = tmp_path / "train.jsonl"
    corpus.write_text(
        "".join(
            json.dumps({"text": f"Dokumen nomor {i} tentang kota Jakarta.", "lang": "id"}) + "\n" for i in range(5)
        ),
        encoding="utf-8",
    )
    cfg = to_object(
        compose(
            "eval",
            [
                f"launch.root={tmp_path}",
                f"eval.model={gemma3_dir}",
                "eval.suites=[local]",
                "eval.languages=[id]",
                "eval.n_per_language=1",
                "eval.perplexity_max_documents=2",
                f"data.sources=[{{path: '{corpus}'}}]",
            ],
        )
    )
    ctx = StageContext(cfg, tmp_path / "run")
    eval_stage.execute(ctx)
    results = json.loads((ctx.artifact_dir / "results.json").read_text())
    assert results["perplexity_documents"] == {"id": {"used": 2, "available": 5}}
    assert results["perplexity"]["id"] > 1
