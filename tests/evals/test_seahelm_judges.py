"""The judge settings rewrite the task configs the `seahelm` set runs, and the eval preflight refuses what would
fail on the node: a missing model path, an endpoint judge without its key, unstaged weights.

Checked once by hand against a real checkout at 6844e6c (not in CI: no network): after `configure-judges`, every
task of the four rewritten configs loads and resolves with OmegaConf exactly as before, apart from the judge's
model name, type and init args."""

import shlex

import pytest
import yaml

from evals.seahelm import (JUDGED_TASK_CONFIGS, METRICX_TASK_CONFIG, JudgeSettings, SeaHelmSettings, configure_judges,
                           main, render_commands, weights_to_stage)
from recipes.core.config import compose, to_object
from recipes.submit import preflight

# The judge blocks as they stand at SEA-HELM 6844e6c (e.g. seahelm_tasks/multi_turn/mt_bench_judge/config.yaml,
# seahelm_tasks/nlg/translation/config.yaml), other keys trimmed; ${...} interpolations are OmegaConf's.
LLM_JUDGE = {"judge_model_name": "openai/gpt-oss-120b", "judge_model_type": "vllm",
             "judge_init_args": {"tensor_parallel_size": "auto", "async_scheduling": True,
                                 "load_format": "instanttensor"},
             "judge_generation_kwargs": {"max_tokens": 16384, "reasoning_effort": "high"}}
TASKS = {JUDGED_TASK_CONFIGS[0]: "mt-bench-judge", JUDGED_TASK_CONFIGS[1]: "kalahi-judge",
         JUDGED_TASK_CONFIGS[2]: "syntax-criteria"}


@pytest.fixture
def checkout(tmp_path):
    for rel, task in TASKS.items():
        (tmp_path / rel).parent.mkdir(parents=True)
        (tmp_path / rel).write_text(yaml.safe_dump({task: {"name": task, "metric": "average_criteria_score",
                                                           "use_judges": True, "judge": dict(LLM_JUDGE)}}))
    metricx = {"judge_model_name": "google/metricx-24-hybrid-xxl-v2p6-bfloat16", "judge_model_type": "metricx",
               "judge_init_args": {"batch_size": 32}}
    (tmp_path / METRICX_TASK_CONFIG).parent.mkdir(parents=True)
    (tmp_path / METRICX_TASK_CONFIG).write_text(yaml.safe_dump({
        "translation-en-xx": {"aggregation_group": "translations", "judge": dict(metricx)},
        "translation-xx-en": {"competency": "${translation-en-xx.competency}", "judge": dict(metricx)}}))
    return tmp_path


def test_a_local_judge_and_metricx_are_set_in_every_judged_task(checkout):
    configure_judges(checkout, JudgeSettings(model_name="/lustre/judges/gpt-oss-120b"), "/lustre/metricx")
    for rel, task in TASKS.items():
        judge = yaml.safe_load((checkout / rel).read_text())[task]["judge"]
        assert judge["judge_model_name"] == "/lustre/judges/gpt-oss-120b" and judge["judge_model_type"] == "vllm"
        assert judge["judge_init_args"] == LLM_JUDGE["judge_init_args"]
    translation = yaml.safe_load((checkout / METRICX_TASK_CONFIG).read_text())
    assert {t["judge"]["judge_model_name"] for t in translation.values()} == {"/lustre/metricx"}
    assert translation["translation-xx-en"]["competency"] == "${translation-en-xx.competency}"


def test_an_endpoint_judge_uses_litellm_with_no_key_in_the_file(checkout):
    judge = JudgeSettings(model_name="gpt-oss-120b", model_type="litellm", base_url="http://judge:8000/v1",
                          api_key_env="JUDGE_KEY")
    configure_judges(checkout, judge, "google/metricx-24-hybrid-xxl-v2p6-bfloat16")
    text = (checkout / JUDGED_TASK_CONFIGS[0]).read_text()
    assert yaml.safe_load(text)["mt-bench-judge"]["judge"]["judge_init_args"] == {
        "api_provider": "openai", "base_url": "http://judge:8000/v1"}
    assert "JUDGE_KEY" not in text and "api_key" not in text
    with pytest.raises(ValueError, match="base_url"):
        configure_judges(checkout, JudgeSettings(model_type="litellm"), "m")


def test_the_rendered_configure_line_runs_our_cli(checkout, capsys):
    judge = JudgeSettings(model_name="gpt-oss-120b", model_type="litellm", base_url="http://judge:8000/v1")
    settings = SeaHelmSettings(repo_dir=str(checkout), judge=judge, metricx_model="/lustre/metricx", runs=[0])
    argv = shlex.split(render_commands(settings, "google/gemma-3-27b-it", "/out")[3])
    assert argv[:3] == ["python", "-m", "evals.seahelm"]
    main(argv[3:])
    assert capsys.readouterr().out.count("configured ") == 4
    judged = yaml.safe_load((checkout / JUDGED_TASK_CONFIGS[1]).read_text())["kalahi-judge"]["judge"]
    assert (judged["judge_model_name"], judged["judge_model_type"]) == ("gpt-oss-120b", "litellm")
    metricx = yaml.safe_load((checkout / METRICX_TASK_CONFIG).read_text())["translation-en-xx"]["judge"]
    assert (metricx["judge_model_name"], metricx["judge_model_type"]) == ("/lustre/metricx", "metricx")


def test_weights_to_stage():
    assert weights_to_stage(SeaHelmSettings()) == ["openai/gpt-oss-120b", "google/metricx-24-hybrid-xxl-v2p6-bfloat16",
                                                   "google/mt5-xl"]
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
    endpoint = ["eval.seahelm.judge.model_type=litellm", "eval.seahelm.judge.base_url=http://judge:8000/v1",
                "eval.seahelm.judge.api_key_env=JUDGE_KEY"]
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
    assert line.startswith(f"eval.seahelm.hf_home: {tmp_path / 'hf'} lacks google/mt5-xl ")
    [line] = _eval_findings(tmp_path, f"eval.seahelm.hf_home={tmp_path / 'hf'}", "eval.model=google/gemma-3-1b-it")
    assert "lacks google/gemma-3-1b-it, google/mt5-xl " in line and "--model google/gemma-3-1b-it`" in line
    [line] = _eval_findings(tmp_path, "eval.seahelm.judge.model_type=remote")
    assert line.startswith("eval.seahelm.judge.model_type: unknown judge type 'remote'")
