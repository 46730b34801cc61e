"""The judge settings rewrite the task configs the `seahelm` set runs, in the job's working copy of the image's
SEA-HELM (never in the image), and the eval preflight refuses what would fail on the node: a missing model path, an
endpoint judge without its key, unstaged weights or datasets.

Checked once by hand against a real checkout at 6844e6c (not in CI: no network): after the rewrite, every
task of the four rewritten configs loads and resolves with OmegaConf exactly as before, apart from the judge's
model name, type and init args. tests/seahelm prepares a copy of the real checkout."""

import json
import shlex

import pytest
import yaml

from evals.seahelm import (
    DATASETS_MANIFEST,
    JUDGED_TASK_CONFIGS,
    METRICX_TASK_CONFIG,
    JudgeSettings,
    SeaHelmSettings,
    main,
    missing_datasets,
    prepare_checkout,
    render_commands,
    weights_to_stage,
)
from recipes.core.config import to_object
from recipes.stages import compose
from recipes.submit import preflight

# The judge blocks as they stand at SEA-HELM 6844e6c (e.g. seahelm_tasks/multi_turn/mt_bench_judge/config.yaml,
# seahelm_tasks/nlg/translation/config.yaml), other keys trimmed; ${...} interpolations are OmegaConf's.
LLM_JUDGE = {
    "judge_model_name": "openai/gpt-oss-120b",
    "judge_model_type": "vllm",
    "judge_init_args": {"tensor_parallel_size": "auto", "async_scheduling": True, "load_format": "instanttensor"},
    "judge_generation_kwargs": {"max_tokens": 16384, "reasoning_effort": "high"},
}
TASKS = {
    JUDGED_TASK_CONFIGS[0]: "mt-bench-judge",
    JUDGED_TASK_CONFIGS[1]: "kalahi-judge",
    JUDGED_TASK_CONFIGS[2]: "syntax-criteria",
}


@pytest.fixture
def image(tmp_path):
    """/opt/SEA-HELM as the image holds it: the judged task configs (trimmed), a source file, its .venv."""
    tmp_path = tmp_path / "opt-SEA-HELM"
    (tmp_path / "src").mkdir(parents=True)
    (tmp_path / "src" / "seahelm_evaluation.py").write_text("# SEA-HELM\n")
    (tmp_path / ".venv").mkdir()
    for rel, task in TASKS.items():
        (tmp_path / rel).parent.mkdir(parents=True)
        (tmp_path / rel).write_text(
            yaml.safe_dump(
                {task: {"name": task, "metric": "average_criteria_score", "use_judges": True, "judge": dict(LLM_JUDGE)}}
            )
        )
    metricx = {
        "judge_model_name": "google/metricx-24-hybrid-xxl-v2p6-bfloat16",
        "judge_model_type": "metricx",
        "judge_init_args": {"batch_size": 32},
    }
    (tmp_path / METRICX_TASK_CONFIG).parent.mkdir(parents=True)
    (tmp_path / METRICX_TASK_CONFIG).write_text(
        yaml.safe_dump(
            {
                "translation-en-xx": {"aggregation_group": "translations", "judge": dict(metricx)},
                "translation-xx-en": {"competency": "${translation-en-xx.competency}", "judge": dict(metricx)},
            }
        )
    )
    return tmp_path


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_local_judge_and_metricx_are_set_in_every_judged_task_of_the_jobs_copy(image, tmp_path):
    before = _files(image)
    checkout = prepare_checkout(
        image, tmp_path / "out" / "checkout", JudgeSettings(model_name="/lustre/judges/gpt-oss-120b"), "/lustre/metricx"
    )
    assert _files(image) == before  # the image is never written
    assert (checkout / "src").is_symlink() and (checkout / ".venv").resolve() == image / ".venv"
    for rel, task in TASKS.items():
        judge = yaml.safe_load((checkout / rel).read_text())[task]["judge"]
        assert judge["judge_model_name"] == "/lustre/judges/gpt-oss-120b" and judge["judge_model_type"] == "vllm"
        assert judge["judge_init_args"] == LLM_JUDGE["judge_init_args"]
    translation = yaml.safe_load((checkout / METRICX_TASK_CONFIG).read_text())
    assert {t["judge"]["judge_model_name"] for t in translation.values()} == {"/lustre/metricx"}
    assert translation["translation-xx-en"]["competency"] == "${translation-en-xx.competency}"


def test_an_endpoint_judge_uses_litellm_with_no_key_in_the_file(image, tmp_path):
    judge = JudgeSettings(
        model_name="gpt-oss-120b", model_type="litellm", base_url="http://judge:8000/v1", api_key_env="JUDGE_KEY"
    )
    prepare_checkout(image, tmp_path / "work", JudgeSettings(), "m")
    checkout = prepare_checkout(image, tmp_path / "work", judge, "google/metricx-24-hybrid-xxl-v2p6-bfloat16")
    assert not (checkout / JUDGED_TASK_CONFIGS[0]).is_symlink()  # rebuilt on a requeue, a file of its own
    text = (checkout / JUDGED_TASK_CONFIGS[0]).read_text()
    assert yaml.safe_load(text)["mt-bench-judge"]["judge"]["judge_init_args"] == {
        "api_provider": "openai",
        "base_url": "http://judge:8000/v1",
    }
    assert "JUDGE_KEY" not in text and "api_key" not in text
    with pytest.raises(ValueError, match="base_url"):
        prepare_checkout(image, tmp_path / "work", JudgeSettings(model_type="litellm"), "m")


def test_the_rendered_prepare_line_runs_our_cli(image, tmp_path, capsys):
    judge = JudgeSettings(model_name="gpt-oss-120b", model_type="litellm", base_url="http://judge:8000/v1")
    settings = SeaHelmSettings(repo_dir=str(image), judge=judge, metricx_model="/lustre/metricx", runs=[0])
    argv = shlex.split(render_commands(settings, "google/gemma-3-27b-it", str(tmp_path / "out"))[1])
    assert argv[:3] == ["python", "-m", "evals.seahelm"]
    main(argv[3:])
    checkout = tmp_path / "out" / "checkout"
    assert capsys.readouterr().out == f"prepared {checkout}\n"
    judged = yaml.safe_load((checkout / JUDGED_TASK_CONFIGS[1]).read_text())["kalahi-judge"]["judge"]
    assert (judged["judge_model_name"], judged["judge_model_type"]) == ("gpt-oss-120b", "litellm")
    metricx = yaml.safe_load((checkout / METRICX_TASK_CONFIG).read_text())["translation-en-xx"]["judge"]
    assert (metricx["judge_model_name"], metricx["judge_model_type"]) == ("/lustre/metricx", "metricx")


def test_weights_to_stage():
    assert weights_to_stage(SeaHelmSettings()) == [
        "openai/gpt-oss-120b",
        "google/metricx-24-hybrid-xxl-v2p6-bfloat16",
        "google/mt5-xl",
    ]
    endpoint = SeaHelmSettings(judge=JudgeSettings(model_type="litellm"), metricx_model="/lustre/metricx")
    assert weights_to_stage(endpoint, "google/gemma-3-27b-it") == ["google/gemma-3-27b-it", "google/mt5-xl"]
    assert weights_to_stage(endpoint, "/lustre/models/apo") == ["google/mt5-xl"]


def _eval_findings(tmp_path, *overrides):
    cfg = to_object(compose("eval", [f"launch.root={tmp_path}", "eval.suites=[seahelm]", *overrides]))
    return [f.line() for f in preflight.plan(cfg).errors]


def test_preflight_eval_model(tmp_path):
    assert _eval_findings(tmp_path, "eval.model=google/gemma-3-27b-it") == []
    (tmp_path / "m").mkdir()
    assert _eval_findings(tmp_path, f"eval.model={tmp_path / 'm'}") == []
    [line] = _eval_findings(tmp_path, f"eval.model={tmp_path / 'nope'}")
    assert line.startswith(f"eval.model: '{tmp_path / 'nope'}' is no existing path, registered version or hub id")


def test_preflight_endpoint_judge_key_and_staged_weights(tmp_path, monkeypatch):
    endpoint = [
        "eval.seahelm.judge.model_type=litellm",
        "eval.seahelm.judge.base_url=http://judge:8000/v1",
        "eval.seahelm.judge.api_key_env=JUDGE_KEY",
    ]
    [line] = _eval_findings(tmp_path, *endpoint)
    assert line.startswith("eval.seahelm.judge.api_key_env: JUDGE_KEY is not in cluster.secrets")
    monkeypatch.delenv("JUDGE_KEY", raising=False)
    [line] = _eval_findings(tmp_path, *endpoint, "cluster.secrets=[JUDGE_KEY]")
    assert "JUDGE_KEY is unset" in line
    monkeypatch.setenv("JUDGE_KEY", "k")
    assert _eval_findings(tmp_path, *endpoint, "cluster.secrets=[JUDGE_KEY]") == []
    [line] = _eval_findings(tmp_path, f"eval.seahelm.hf_home={tmp_path / 'hf'}")
    assert line.startswith(f"eval.seahelm.hf_home: {tmp_path / 'hf'} lacks all")
    # the layout huggingface_hub writes: hub/models--org--name/{refs/main, snapshots/<rev>/config.json}
    for repo_id in weights_to_stage(SeaHelmSettings())[:2]:
        snapshot = tmp_path / "hf" / "hub" / f"models--{repo_id.replace('/', '--')}" / "snapshots" / "abc"
        snapshot.mkdir(parents=True)
        (snapshot / "config.json").write_text("{}")
        (snapshot.parents[1] / "refs").mkdir()
        (snapshot.parents[1] / "refs" / "main").write_text("abc")
    [line] = _eval_findings(tmp_path, f"eval.seahelm.hf_home={tmp_path / 'hf'}")
    assert line.startswith(f"eval.seahelm.hf_home: {tmp_path / 'hf'} lacks google/mt5-xl, {DATASETS_MANIFEST} ")
    [line] = _eval_findings(tmp_path, f"eval.seahelm.hf_home={tmp_path / 'hf'}", "eval.model=google/gemma-3-1b-it")
    assert "lacks google/gemma-3-1b-it, google/mt5-xl, " in line
    assert "--model google/gemma-3-1b-it --seahelm-dir" in line
    [line] = _eval_findings(tmp_path, "eval.seahelm.judge.model_type=remote")
    assert line.startswith("eval.seahelm.judge.model_type: unknown judge type 'remote'")
    [line] = _eval_findings(tmp_path, "eval.seahelm.runs=[0,8]")
    assert line.startswith("eval.seahelm.runs: eval.seahelm.runs [8] have no seed")


def _prepared(cache, name, config):
    """What `datasets` leaves after load_dataset(name, config): <cache>/datasets/<org>___<snake>/<config>/<v>/<hash>."""
    org, dataset = name.split("/")
    (cache / "datasets" / f"{org}___{dataset.lower()}" / config / "0.0.0" / "f00d").mkdir(parents=True)


def test_preflight_wants_the_task_sets_datasets_staged(tmp_path):
    hf = tmp_path / "hf"
    for repo_id in weights_to_stage(SeaHelmSettings()):
        snapshot = hf / "hub" / f"models--{repo_id.replace('/', '--')}" / "snapshots" / "abc"
        snapshot.mkdir(parents=True)
        (snapshot / "config.json").write_text("{}")
        (snapshot.parents[1] / "refs").mkdir()
        (snapshot.parents[1] / "refs" / "main").write_text("abc")
    [line] = _eval_findings(tmp_path, f"eval.seahelm.hf_home={hf}")
    assert f"lacks {DATASETS_MANIFEST} (no datasets staged)" in line and "--seahelm-dir" in line
    names = ["aisingapore/NLU-Sentiment-Analysis", "typhoon-ai/thai_exam"]
    manifest = {"commit": SeaHelmSettings().commit, "tasks": ["seahelm"], "skip_tasks": [], "datasets": names}
    (hf / DATASETS_MANIFEST).write_text(json.dumps(manifest))
    _prepared(hf, names[0], "id")
    [line] = _eval_findings(tmp_path, f"eval.seahelm.hf_home={hf}")
    assert f"{hf} lacks typhoon-ai/thai_exam (the runs are offline" in line
    _prepared(hf, names[1], "a_level")
    assert _eval_findings(tmp_path, f"eval.seahelm.hf_home={hf}") == []
    stale = SeaHelmSettings(hf_home=str(hf), tasks=["seahelm", "batayan"])
    assert missing_datasets(stale) == [
        f"{DATASETS_MANIFEST} (staged for tasks=['seahelm'], not ['seahelm', 'batayan'])"
    ]
