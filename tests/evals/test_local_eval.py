"""The built-in SEA evaluator end to end on the real Gemma 3 270M (CPU, small subset)."""

import json

import pytest
import torch

from evals.answer_extraction import extract_answer
from evals.local_eval import LoadedModel, LocalEvalSettings, load_questions, run
from evals.metrics import balanced_accuracy

LANGS = ["id", "vi", "ms", "tl", "my"]


@pytest.fixture(scope="module", autouse=True)
def _threads():
    torch.set_num_threads(2)


def test_logprob_scoring_matches_full_sequence_scoring(gemma3_dir):
    # Burmese labels tokenise unevenly (ဃ takes two tokens), which exercises the cached multi-token path.
    settings = LocalEvalSettings()
    model = LoadedModel(gemma3_dir, settings)
    question = load_questions(settings, "my")[0]
    fast = model.label_logprobs(question)
    context = model.context(question.prompt) + question.answer_tag
    context_ids = model._ids(context)
    for label in question.labels:
        ids = model._ids(context + " " + label)
        start = next((i for i, (a, b) in enumerate(zip(ids, context_ids)) if a != b), len(context_ids))
        keep = len(ids) - start + 1  # only the positions that predict the label's tokens
        with torch.no_grad():
            logits = model.model(input_ids=torch.tensor([ids]), logits_to_keep=keep).logits[0].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        slow = sum(float(logprobs[p - start, ids[p]]) for p in range(start, len(ids)))
        assert fast[label] == pytest.approx(slow, abs=1e-3)


def test_run_five_languages(gemma3_dir, tmp_path):
    settings = LocalEvalSettings(
        languages=LANGS,
        n_per_language=4,
        modes=["logprob", "generate"],
        generate_n_per_language=1,
        generate_languages=["id", "my"],
        max_new_tokens=6,
    )
    results = run(settings, gemma3_dir, tmp_path)
    assert json.loads((tmp_path / "results.json").read_text())["aggregate"] == json.loads(
        json.dumps(results["aggregate"])
    )
    preds = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 5 * 4 + 2
    labels = {lang: load_questions(settings, lang)[0].labels for lang in LANGS}
    for lang in LANGS:
        logprob = [p for p in preds if p["language"] == lang and p["mode"] == "logprob"]
        assert len(logprob) == 4 and all(p["prediction"] in labels[lang] for p in logprob)
        assert all(p["prediction"] == max(p["logprobs"], key=p["logprobs"].get) for p in logprob)
        run_row = next(r for r in results["runs"] if r["language"] == lang and r["task"].endswith("-logprob"))
        expected = 100 * balanced_accuracy([p["label"] for p in logprob], [p["prediction"] for p in logprob])
        assert run_row["balanced_accuracy"] == pytest.approx(expected)
        generated = [p for p in preds if p["language"] == lang and p["mode"] == "generate"]
        tag = load_questions(settings, lang)[0].answer_tag
        assert len(generated) == (1 if lang in ("id", "my") else 0)
        assert all(g["prediction"] == extract_answer(g["response"], tag, labels[lang]) for g in generated)
    agg = results["aggregate"]
    assert set(agg["languages"]) == set(LANGS)
    assert set(agg["tasks"]["global_mmlu_lite-logprob"]) == set(LANGS)
    assert set(agg["tasks"]["global_mmlu_lite"]) == {"id", "my"}
    assert 0.0 <= agg["sea_average"]["mean"] <= 100.0


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="modes"):
        run(LocalEvalSettings(modes=["sample"]), "unused", "unused")
    with pytest.raises(ValueError, match="language 'xx'"):
        load_questions(LocalEvalSettings(), "xx")


def test_the_shipped_global_mmlu_lite_is_the_shared_copy_byte_for_byte():
    """The smoke evaluation reads the copy shipped in evals/data (a fresh clone has no shared/); it must be SEA-HELM's
    data as the project's shared folder holds it, every file, nothing added or dropped."""
    from pathlib import Path

    from evals.local_eval import DEFAULT_DATA_DIR

    shared = Path(__file__).resolve().parents[3] / "shared" / "data" / "seahelm-global-mmlu-lite"
    shipped = {p.name: p.read_bytes() for p in DEFAULT_DATA_DIR.iterdir()}
    assert shipped == {p.name: p.read_bytes() for p in shared.iterdir()} and "config.yaml" in shipped
