"""The pipeline's wiring between stages: an eval after sft evaluates the model sft trained and exports, not the
hub checkpoint the experiment starts from."""

from recipes.pipeline import plan_stages

EVAL_27B = [
    "experiment=sealion_v4_27b",
    "cluster=slurm",
    "launch.dryrun=true",
    "cluster.account=sealion",
    "cluster.partition=gpu",
    "launch.check_paths=false",
    "pipeline.stages=[sft,eval]",
]


def test_eval_after_sft_evaluates_the_sft_export(tmp_path):
    sft, ev = plan_stages([*EVAL_27B, f"launch.root={tmp_path}"])
    export = tmp_path / "sealion_v4_27b" / "sft" / "artifact" / "hf"  # sft's StageSpec.hf_export
    assert sft.run_dir == tmp_path / "sealion_v4_27b" / "sft"
    assert ev.cfg.eval.model == str(export) and ev.cfg.run.upstream == "sft"


def test_an_eval_model_given_by_the_user_still_wins(tmp_path):
    _, ev = plan_stages([*EVAL_27B, f"launch.root={tmp_path}", "eval.model=/shared/models/other"])
    assert ev.cfg.eval.model == "/shared/models/other"


def test_eval_after_a_hugging_face_stage_is_left_to_the_stage(tmp_path):
    _, ev = plan_stages([*EVAL_27B, f"launch.root={tmp_path}", "pipeline.stages=[apo,eval]"])
    assert ev.cfg.eval.model is None  # apo's artifact is the model: eval's own model source finds it


def test_preflight_accepts_the_sft_export_the_pipeline_will_write(tmp_path):
    """Not a dry run, paths checked: sft's hf/ does not exist yet, but sft runs before eval in this pipeline."""
    from recipes.core.config import to_object
    from recipes.stages import compose
    from recipes.submit import preflight

    export = tmp_path / "sealion_v4_27b" / "sft" / "artifact" / "hf"
    overrides = [
        "experiment=sealion_v4_27b",
        f"launch.root={tmp_path}",
        "pipeline.stages=[sft,eval]",
        "run.upstream=sft",
        f"eval.model={export}",
        "eval.suites=[local]",
    ]
    assert [f.line() for f in preflight.plan(to_object(compose("eval", overrides))).errors] == []
    alone = [o for o in overrides if not o.startswith("run.upstream")]  # launched alone: nothing will write it
    [line] = [f.line() for f in preflight.plan(to_object(compose("eval", alone))).errors if f.field == "eval.model"]
    assert "is no existing path" in line
