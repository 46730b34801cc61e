"""Report across two versions: Markdown/HTML tables and PNG plots, including perplexity curves over steps."""

import json

import matplotlib.image as mpimg
import pytest

from evals import lm_eval, seahelm
from evals.aggregate import TaskScore, aggregate
from evals.report import ReportInputError, load_versions
from recipes.artifacts.versions import Registry
from recipes.report import main
from tests.helpers.engine_results import write_lm_eval, write_run


def _results(version, offset):
    scores = [
        TaskScore(task, comp, lang, base + offset + 4 * seed, seed)
        for seed in (0, 1, 2)
        for task, comp, lang, base in (
            ("sentiment", "nlu", "id", 50),
            ("nli", "nlr", "id", 40),
            ("sentiment", "nlu", "vi", 30),
            ("translation", "nlg", "my", 20),
            ("sentiment", "nlu", "en", 70),
        )
    ]
    return {"version": version, "source": "seahelm", "aggregate": aggregate(scores)}


def _write(tmp_path, version, offset, ppl_scale):
    d = tmp_path / version
    d.mkdir()
    (d / "results.json").write_text(json.dumps(_results(version, offset)))
    series = [
        {"step": step, "perplexity": {"id": ppl_scale * 30 / (1 + step / 500), "my": ppl_scale * 80 / (1 + step / 500)}}
        for step in (0, 500, 1000, 2000)
    ]
    (d / "perplexity.json").write_text(
        json.dumps({"version": version, "perplexity": series[-1]["perplexity"], "perplexity_series": series})
    )
    return d


def test_report_for_two_versions(tmp_path):
    v1 = _write(tmp_path, "cpt-v1", 0, 1.0)
    # the second version is given by id: its record's metrics, found through the run registry
    model = tmp_path / "cpt-model"
    model.mkdir()
    registry = Registry(tmp_path / "registry")
    record = registry.register(model, name="cpt", stage="cpt", payload_kind="hf")
    registry.add_metrics(record.id, "seahelm", {"aggregate": _results(record.id, 10)["aggregate"]})
    out = tmp_path / "report"
    assert main([str(v1), record.id, "--output-dir", str(out), "--registry", str(registry.root)]) == 0
    md = (out / "report.md").read_text()
    assert f"| suite/language | cpt-v1 | {record.id} |" in md
    # id, seed means: v1 nlu 54, nlr 44 -> 49; v2 +10 -> 59. Seeds differ by 4, so a CI is printed.
    id_row = next(line for line in md.splitlines() if line.startswith("| seahelm/id |"))
    assert id_row.startswith("| seahelm/id | 49.0 [") and "| 59.0 [" in id_row
    html = (out / "report.html").read_text()
    for name in ("languages", "competencies", "perplexity"):
        image = mpimg.imread(out / f"{name}.png")
        assert image.shape[0] > 300 and image.shape[1] > 500
        assert f'src="{name}.png"' in html and f"({name}.png)" in md


def test_report_of_the_eval_stage_results_shows_every_suite(tmp_path):
    """results.json as recipes/stages/eval.py writes it: each suite nested under its name; SEA-HELM's leaderboard
    numbers with their standard errors, its total of each run and its incomplete runs; lm-eval labelled raw."""
    model = "/lustre/models/sealion-v4-27b-apo"
    for run in range(3):
        write_run(tmp_path / "seahelm", model, run)
    failed = next((tmp_path / "seahelm" / "sealion-v4-27b-apo" / "run_2" / "results").glob("*.json"))
    metrics = json.loads(failed.read_text())
    metrics["id"]["nlu"]["qa"]["error"] = "Failed to run evaluation for task"
    failed.write_text(json.dumps(metrics))
    write_lm_eval(tmp_path / "lm_eval", model)
    results = {
        "model": model,
        "seahelm": seahelm.parse_results(tmp_path / "seahelm", {0: 1, 1: 2, 2: 3}),
        "lm_eval": lm_eval.parse_results(tmp_path / "lm_eval"),
        "perplexity": {"id": 12.5},
        "perplexity_documents": {"id": {"used": 200, "available": 5120}},
    }
    (tmp_path / "apo").mkdir()
    (tmp_path / "apo" / "results.json").write_text(json.dumps(results))
    results = json.loads((tmp_path / "apo" / "results.json").read_text())
    assert main([str(tmp_path / "apo"), "--output-dir", str(tmp_path / "report")]) == 0
    md = (tmp_path / "report" / "report.md").read_text()
    board = results["seahelm"]["aggregate"]
    sea = board["sea_average"]
    assert "| version | seahelm (± s.e.) |" in md and f"| apo | {sea['mean']:.1f} ± {sea['stderr']:.1f} |" in md
    assert "SEA-HELM's leaderboard scores" in md
    totals = results["seahelm"]["run_totals"]["seahelm_totals"]
    assert f"| 0 | {totals['0']:.1f} |" in md and f"| 1 | {totals['1']:.1f} |" in md
    assert "| 2 | incomplete: id/qa: SEA-HELM error 'Failed to run evaluation for task'" in md
    tl = board["competencies"]["tl"]["cultural"]
    assert f"| seahelm/tl/cultural | {tl['mean']:.1f} ± {tl['stderr']:.1f} |" in md
    # lm-eval: English only, no SEA average, raw wherever it is shown
    assert "| lm_eval (raw)/en | 47.9 |" in md and "| leaderboard_ifeval | 77.5 |" in md
    assert "## lm_eval (raw) tasks" in md and md.count("lm-eval (raw): accuracies") == 3
    assert "| id | 12.50 (200/5120 docs) |" in md


def test_a_version_id_is_resolved_through_the_registry_or_named(tmp_path, capsys):
    registry = Registry(tmp_path / "registry")
    model = tmp_path / "m"
    model.mkdir()
    record = registry.register(model, name="sft", stage="sft", payload_kind="hf")
    assert main([record.id, "--registry", str(registry.root), "--output-dir", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"recipes.report: {record.id}: the version has no evaluation results in "
        f"its record ({model.resolve()}); run the eval stage on it "
        f"(eval.model={record.id})"
    )
    assert main(["sft-9.9.9", "--registry", str(registry.root), "--output-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no version 'sft-9.9.9' in the registry" in err


def test_a_truncated_or_missing_results_file_is_one_line_with_the_repair(tmp_path, capsys):
    folder = tmp_path / "v1"
    folder.mkdir()
    (folder / "results.json").write_text('{"model": "/m", "seahelm": {"aggreg')
    assert main([str(folder), "--output-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"recipes.report: {folder / 'results.json'}: not valid JSON") and "rerun the eval" in err
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty"), "--output-dir", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err == (
        f"recipes.report: {tmp_path / 'empty'}: no results.json or perplexity.json "
        "inside; pass a results JSON or its folder (the eval stage's artifact)\n"
    )
    assert (
        main(
            [
                str(tmp_path / "nowhere"),
                "--registry",
                str(tmp_path / "no-registry"),
                "--output-dir",
                str(tmp_path / "r"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no-registry does not exist" in err


def test_perplexity_points_from_separate_files_form_a_curve(tmp_path):
    for step, ppl in ((100, 40.0), (200, 30.0)):
        f = tmp_path / f"ppl-{step}.json"
        f.write_text(json.dumps({"version": "cpt-v3", "step": step, "perplexity": {"th": ppl}}))
    versions = load_versions([str(tmp_path / "ppl-200.json"), str(tmp_path / "ppl-100.json")])
    assert len(versions) == 1
    assert versions[0].perplexity_series == [(100, {"th": 40.0}), (200, {"th": 30.0})]


def test_unknown_source_without_resolver():
    with pytest.raises(ReportInputError, match="no version registry"):
        load_versions(["cpt-v9"])
