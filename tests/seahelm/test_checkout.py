"""The job's working copy of SEA-HELM and what the `seahelm` set loads, from SEA-HELM's own task configs at the
pinned commit (the archive's source stands for the image's /opt/SEA-HELM)."""

from __future__ import annotations

import hashlib

import yaml
from omegaconf import OmegaConf

from evals.seahelm import JUDGED_TASK_CONFIGS, METRICX_TASK_CONFIG, JudgeSettings, prepare_checkout, task_datasets
from tests.seahelm.conftest import SEAHELM_DIR

# Read from seahelm_tasks/**/config.yaml at 6844e6c: the `filepath` / `example_filepath` hub ids of the tasks the
# `seahelm` set runs (Global MMLU Lite reads files of the checkout, so it is not listed).
SEAHELM_SET_DATASETS = [
    "aisingapore/Cultural-Evaluation-Kalahi",
    "aisingapore/Cultural-Evaluation-Kalahi-Judge",
    "aisingapore/Instruction-Following-IFEval",
    "aisingapore/Linguistic-Diagnostics-Pragmatics",
    "aisingapore/Linguistic-Diagnostics-Syntax",
    "aisingapore/Linguistic-Diagnostics-Syntax-Judge",
    "aisingapore/MultiTurn-Chat-MT-Bench-Judge",
    "aisingapore/NLG-Abstractive-Summarization",
    "aisingapore/NLG-Machine-Translation",
    "aisingapore/NLR-Causal-Reasoning",
    "aisingapore/NLR-NLI",
    "aisingapore/NLU-Belebele-MCQA",
    "aisingapore/NLU-Metaphor",
    "aisingapore/NLU-Question-Answering",
    "aisingapore/NLU-Sentiment-Analysis",
    "aisingapore/Safety-Toxicity-Detection",
    "typhoon-ai/thai_exam",
]


def _digest(folder):
    files = sorted((folder / "seahelm_tasks").rglob("*.yaml"))
    return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()


def test_the_seahelm_sets_datasets_come_from_its_task_configs():
    assert task_datasets(SEAHELM_DIR, ["seahelm"]) == SEAHELM_SET_DATASETS
    without_thai_exam = task_datasets(
        SEAHELM_DIR,
        ["seahelm"],
        ["thai_exam_a_level", "thai_exam_ic", "thai_exam_onet", "thai_exam_tgat", "thai_exam_tpat1"],
    )
    assert without_thai_exam == [d for d in SEAHELM_SET_DATASETS if d != "typhoon-ai/thai_exam"]


def test_the_judges_are_set_in_the_jobs_copy_and_the_image_is_untouched(tmp_path):
    before = _digest(SEAHELM_DIR)
    judge = JudgeSettings(model_name="/lustre/judges/gpt-oss-120b")
    work = prepare_checkout(SEAHELM_DIR, tmp_path / "checkout", judge, "/lustre/metricx")
    assert _digest(SEAHELM_DIR) == before
    for rel in JUDGED_TASK_CONFIGS:
        theirs = OmegaConf.to_container(OmegaConf.load(SEAHELM_DIR / rel), resolve=True)
        ours = OmegaConf.to_container(OmegaConf.load(work / rel), resolve=True)
        assert ours.keys() == theirs.keys()
        for task, config in ours.items():
            # only the judge's model changes: every other key resolves as SEA-HELM's own config
            assert config["judge"]["judge_model_name"] == "/lustre/judges/gpt-oss-120b"
            config["judge"]["judge_model_name"] = theirs[task]["judge"]["judge_model_name"]
            assert config == theirs[task]
    translation = yaml.safe_load((work / METRICX_TASK_CONFIG).read_text())
    assert {c["judge"]["judge_model_name"] for c in translation.values() if "judge" in c} == {"/lustre/metricx"}
    # everything else is SEA-HELM's own file, reached through links
    assert (work / "src").resolve() == (SEAHELM_DIR / "src").resolve()
    assert (work / "seahelm_tasks" / "task_config.yaml").resolve() == SEAHELM_DIR / "seahelm_tasks" / "task_config.yaml"
