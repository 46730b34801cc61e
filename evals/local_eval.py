"""A lightweight built-in SEA evaluator for quick checks on CPU or one GPU: Global MMLU Lite with SEA-HELM's prompts.

Two modes per question: `generate` (greedy decoding, answer extracted after the language's answer tag, scored by
balanced accuracy like SEA-HELM) and `logprob` (the option whose label after the answer tag has the highest
log-probability wins; this gives a signal even for tiny base models that never follow the answer format).
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import yaml
from rich.progress import Progress

from evals.aggregate import TaskScore, aggregate
from evals.answer_extraction import extract_answer
from evals.metrics import balanced_accuracy, normalised_score
from recipes.core.jsonl import jsonl_rows

DEFAULT_DATA_DIR = (
    Path(__file__).resolve().parent / "data" / "seahelm-global-mmlu-lite"
)  # shipped: evals/data/README.md
MODES = ("logprob", "generate")


@dataclass
class LocalEvalSettings:
    """What to evaluate; `seeds` pick different random subsets (decoding is greedy, so a seed is a subset)."""

    data_dir: str = str(DEFAULT_DATA_DIR)
    task: str = "global_mmlu_lite"
    competency: str = "knowledge"
    languages: list[str] = field(default_factory=lambda: ["id", "vi", "ms", "tl", "my", "en", "zh"])
    n_per_language: int | None = 20
    seeds: list[int] = field(default_factory=lambda: [0])
    modes: list[str] = field(default_factory=lambda: ["logprob"])
    generate_n_per_language: int | None = None
    generate_languages: list[str] | None = None  # None: every language; generation costs far more than logprob
    max_new_tokens: int = 16
    apply_chat_template: bool = True
    dtype: str = "float32"
    device: str = "cpu"
    num_threads: int | None = None


@dataclass(frozen=True)
class Question:
    language: str
    id: int
    prompt: str
    answer_tag: str
    labels: tuple[str, ...]
    label: str


def _task_config(settings: LocalEvalSettings) -> dict:
    path = Path(settings.data_dir) / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(
            f"data_dir {settings.data_dir!r} has no config.yaml; point data_dir at the "
            "seahelm-global-mmlu-lite folder (evals/data)"
        )
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    if settings.task not in config:
        raise KeyError(f"task {settings.task!r} not in {path}; available: {sorted(config)}")
    return config[settings.task]


def load_questions(settings: LocalEvalSettings, language: str) -> list[Question]:
    """All dev questions for `language`, rendered with the task's zero-shot instruct prompt."""
    spec = _task_config(settings)["languages"].get(language)
    if spec is None:
        raise ValueError(
            f"language {language!r} is not in the {settings.task} config; pick from "
            f"{sorted(_task_config(settings)['languages'])}"
        )
    template = spec["prompt_template"]
    tag = template["answer_tag"]
    path = Path(settings.data_dir) / Path(spec["example_filepath"]).name
    rows = [row for _, row in jsonl_rows(path)]
    labels = tuple(sorted({row["label"] for row in rows}))
    preamble = template["preamble"].format(answer_tag=tag)
    return [
        Question(
            language,
            row["id"],
            f"{preamble}\n\n{template['task_template'].format(**row['prompts'][0])}",
            tag,
            labels,
            row["label"],
        )
        for row in rows
    ]


def _subset(questions: list[Question], n: int | None, seed: int) -> list[Question]:
    if n is None or n >= len(questions):
        return questions
    return random.Random(seed).sample(questions, n)


class LoadedModel:
    """A causal LM and its tokenizer, loaded once and scored by log-probability or generation (the local eval;
    the review app's `prepare` answers its prompts with it)."""

    def __init__(self, model_path: str, settings: LocalEvalSettings):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, settings.dtype))
        self.model.to(settings.device).eval()
        self.device = settings.device
        self.chat = settings.apply_chat_template and self.tokenizer.chat_template is not None

    def context(self, prompt: str) -> str:
        if not self.chat:
            return prompt + "\n\n"
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )

    def _ids(self, text: str) -> list[int]:
        # The chat template already starts with <bos>; a plain prompt gets it from the tokenizer.
        return self.tokenizer(text, add_special_tokens=not self.chat)["input_ids"]

    @torch.no_grad()
    def label_logprobs(self, question: Question) -> dict[str, float]:
        """Sum of log-probabilities of " label" after "<context><answer tag>", per label.

        The shared context runs once (only its last position goes through the 262k-way LM head); labels longer than
        one token continue from a copy of the shared KV cache."""
        prefix = self.context(question.prompt) + question.answer_tag
        full = {label: self._ids(prefix + " " + label) for label in question.labels}
        shared = min(len(ids) for ids in full.values()) - 1
        reference = next(iter(full.values()))
        while any(ids[:shared] != reference[:shared] for ids in full.values()):
            shared -= 1
        context = torch.tensor([reference[:shared]], device=self.device)
        out = self.model(input_ids=context, use_cache=True, logits_to_keep=1)
        first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
        scores = {}
        for label, ids in full.items():
            rest = ids[shared:]
            score = float(first[rest[0]])
            if len(rest) > 1:
                cont = self.model(
                    input_ids=torch.tensor([rest[:-1]], device=self.device),
                    past_key_values=copy.deepcopy(out.past_key_values),
                    use_cache=True,
                )
                logprobs = torch.log_softmax(cont.logits[0].float(), dim=-1)
                score += float(sum(logprobs[i, tok] for i, tok in enumerate(rest[1:])))
            scores[label] = score
        return scores

    @torch.no_grad()
    def generate(self, prompt: str, max_new_tokens: int) -> str:
        ids = torch.tensor([self._ids(self.context(prompt))], device=self.device)
        out = self.model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            top_p=None,
            top_k=None,
            temperature=None,
        )
        return self.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)


def _validate(settings: LocalEvalSettings) -> None:
    bad = [m for m in settings.modes if m not in MODES]
    if bad or not settings.modes:
        raise ValueError(f"modes={settings.modes}: each mode must be one of {MODES}")
    if not settings.languages:
        raise ValueError("languages is empty; list at least one language code, e.g. ['id', 'vi']")
    if not settings.seeds:
        raise ValueError("seeds is empty; give at least one seed, e.g. [0]")


def run(settings: LocalEvalSettings, model_path: str | Path, output_dir: str | Path) -> dict:
    """Evaluate the HF checkpoint at `model_path`; writes results.json and predictions.jsonl into `output_dir`."""
    _validate(settings)
    if settings.num_threads:
        torch.set_num_threads(settings.num_threads)
    questions = {lang: load_questions(settings, lang) for lang in settings.languages}
    model = LoadedModel(str(model_path), settings)
    plan = []
    for seed in settings.seeds:
        for lang in settings.languages:
            subset = _subset(questions[lang], settings.n_per_language, seed)
            for mode in settings.modes:
                if mode == "logprob":
                    plan.append((seed, lang, mode, subset))
                elif settings.generate_languages is None or lang in settings.generate_languages:
                    plan.append((seed, lang, mode, subset[: settings.generate_n_per_language]))
    predictions, runs, task_scores = [], [], []
    with Progress() as progress:
        bar = progress.add_task("local eval", total=sum(len(qs) for *_, qs in plan))
        for seed, lang, mode, chosen in plan:
            predicted: list[str | None] = []  # None: the response gives no label
            for q in chosen:
                answer: str | None
                record: dict[str, object]
                if mode == "logprob":
                    scores = model.label_logprobs(q)
                    answer, record = max(scores, key=lambda label: scores[label]), {"logprobs": scores}
                else:
                    text = model.generate(q.prompt, settings.max_new_tokens)
                    answer, record = extract_answer(text, q.answer_tag, q.labels), {"response": text}
                predicted.append(answer)
                predictions.append(
                    {
                        "seed": seed,
                        "language": lang,
                        "mode": mode,
                        "id": q.id,
                        "label": q.label,
                        "prediction": answer,
                        **record,
                    }
                )
                progress.advance(bar)
            if not chosen:
                continue
            task = settings.task if mode == "generate" else f"{settings.task}-logprob"
            acc = balanced_accuracy([q.label for q in chosen], predicted)
            norm = normalised_score(acc, 1.0 / len(chosen[0].labels))
            runs.append(
                {
                    "task": task,
                    "language": lang,
                    "seed": seed,
                    "n": len(chosen),
                    "balanced_accuracy": 100.0 * acc,
                    "normalized_score": norm,
                    "null_count": sum(p is None for p in predicted),
                }
            )
            task_scores.append(TaskScore(task, settings.competency, lang, norm, seed))
    results = {
        "source": "local_eval",
        "model": str(model_path),
        "settings": asdict(settings),
        "runs": runs,
        "aggregate": aggregate(task_scores),
    }
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    with (out / "predictions.jsonl").open("w", encoding="utf-8") as f:
        for p in predictions:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    return results
