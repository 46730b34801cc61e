"""Report across two versions: Markdown/HTML tables and PNG plots, including perplexity curves over steps."""

import json

import matplotlib.image as mpimg
import pytest

from evals import lm_eval, seahelm
from evals.aggregate import TaskScore, aggregate
from evals.report import load_versions
from recipes.report import main
from tests.evals.engine_results import write_lm_eval, write_run


def _results(version, offset):
    scores = [TaskScore(task, comp, lang, base + offset + 4 * seed, seed)
              for seed in (0, 1, 2)
              for task, comp, lang, base in (("sentiment", "nlu", "id", 50), ("nli", "nlr", "id", 40),
                                             ("sentiment", "nlu", "vi", 30), ("translation", "nlg", "my", 20),
                                             ("sentiment", "nlu", "en", 70))]
    return {"version": version, "source": "seahelm", "aggregate": aggregate(scores)}


def _write(tmp_path, version, offset, ppl_scale):
    d = tmp_path / version
    d.mkdir()
    (d / "results.json").write_text(json.dumps(_results(version, offset)))
    series = [{"step": step, "perplexity": {"id": ppl_scale * 30 / (1 + step / 500), "my": ppl_scale * 80 / (1 + step / 500)}}
              for step in (0, 500, 1000, 2000)]
    (d / "perplexity.json").write_text(json.dumps({"version": version, "perplexity": series[-1]["perplexity"],
                                                   "perplexity_series": series}))
    return d


def test_report_for_two_versions(tmp_path):
    v1 = _write(tmp_path, "cpt-v1", 0, 1.0)
    _write(tmp_path, "cpt-v2", 10, 0.8)
    out = tmp_path / "report"
    # the second version is given by id and found through the resolver
    assert main([str(v1), "cpt-v2", "--output-dir", str(out)], resolver=lambda vid: tmp_path / vid) == 0
    md = (out / "report.md").read_text()
    assert "| suite/language | cpt-v1 | cpt-v2 |" in md
    # id, seed means: v1 nlu 54, nlr 44 -> 49; v2 +10 -> 59. Seeds differ by 4, so a CI is printed.
    id_row = next(line for line in md.splitlines() if line.startswith("| seahelm/id |"))
    assert id_row.startswith("| seahelm/id | 49.0 [") and "| 59.0 [" in id_row
    html = (out / "report.html").read_text()
    for name in ("languages", "competencies", "perplexity"):
        image = mpimg.imread(out / f"{name}.png")
        assert image.shape[0] > 300 and image.shape[1] > 500
        assert f'src="{name}.png"' in html and f"({name}.png)" in md


def test_report_of_the_eval_stage_results_shows_every_suite(tmp_path):
    """results.json as recipes/stages/eval.py writes it: each suite nested under its name."""
    model = "/lustre/models/sealion-v4-27b-apo"
    for run in range(2):
        write_run(tmp_path / "seahelm", model, run)
    write_lm_eval(tmp_path / "lm_eval", model)
    results = {"model": model, "seahelm": seahelm.parse_results(tmp_path / "seahelm"),
               "lm_eval": lm_eval.parse_results(tmp_path / "lm_eval")}
    (tmp_path / "apo").mkdir()
    (tmp_path / "apo" / "results.json").write_text(json.dumps(results))
    assert main([str(tmp_path / "apo"), "--output-dir", str(tmp_path / "report")]) == 0
    md = (tmp_path / "report" / "report.md").read_text()
    # SEA-HELM's totals per run, averaged over the two runs; lm-eval: English only, no SEA average
    sea = sum(json.loads(f.read_text())["total"] for f in sorted((tmp_path / "seahelm").glob("**/*.json"))) / 2
    assert "| version | seahelm [95% CI] |" in md and f"| apo | {sea:.1f} [" in md
    assert "| seahelm/id/multi-turn | 62.5 [" in md and "| seahelm/tl/cultural | 48.5 [" in md
    assert "| lm_eval/en | 47.5 |" in md and "| leaderboard_ifeval | 75.0 |" in md
    assert "not the Open LLM Leaderboard's normalised" in md


def test_perplexity_points_from_separate_files_form_a_curve(tmp_path):
    for step, ppl in ((100, 40.0), (200, 30.0)):
        f = tmp_path / f"ppl-{step}.json"
        f.write_text(json.dumps({"version": "cpt-v3", "step": step, "perplexity": {"th": ppl}}))
    versions = load_versions([str(tmp_path / "ppl-200.json"), str(tmp_path / "ppl-100.json")])
    assert len(versions) == 1
    assert versions[0].perplexity_series == [(100, {"th": 40.0}), (200, {"th": 30.0})]


def test_unknown_source_without_resolver():
    with pytest.raises(FileNotFoundError, match="resolver"):
        load_versions(["cpt-v9"])
