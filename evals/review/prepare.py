"""Generate both versions' responses to a prompt set and store them as review items, so a session is reproducible.

Generation goes through the local evaluator's model wrapper (`evals.local_eval`: the version's chat template,
greedy decoding), the same path the quick SEA evaluation uses. Everything that can be wrong with the inputs (the
prompt file, the version ids, the database's pair) is checked before a model is loaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from evals.review.store import NewItem, Store, check_languages
from recipes.versions import Registry


@dataclass(frozen=True)
class Prompt:
    language: str
    prompt_id: str
    prompt: str


@dataclass
class GenerationSettings:
    max_new_tokens: int = 256
    device: str = "cpu"
    dtype: str = "float32"


def read_prompts(path: str | Path) -> list[Prompt]:
    """JSONL lines of {"id", "language", "prompt"}; a bad line is reported with its file, line and field."""
    prompts, seen = [], set()
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{where}: not JSON ({err.msg}); write one object per line") from None
        for key in ("id", "language", "prompt"):
            if not isinstance(row.get(key), (str, int)) or not str(row[key]).strip():
                raise ValueError(f"{where}: field {key!r} is missing or empty; each line needs id, language, prompt")
        check_languages([row["language"]])
        prompt = Prompt(row["language"], str(row["id"]), row["prompt"])
        if (prompt.language, prompt.prompt_id) in seen:
            raise ValueError(f"{where}: id {prompt.prompt_id!r} repeats for language {prompt.language}; ids must be unique")
        seen.add((prompt.language, prompt.prompt_id))
        prompts.append(prompt)
    if not prompts:
        raise ValueError(f"{path}: no prompts; write JSONL lines of id, language, prompt")
    return prompts


def generate(model_dir: str | Path, prompts: list[Prompt], settings: GenerationSettings) -> list[str]:
    from evals.local_eval import LocalEvalSettings, _Model

    model = _Model(str(model_dir), LocalEvalSettings(dtype=settings.dtype, device=settings.device))
    return [model.generate(p.prompt, settings.max_new_tokens).strip() for p in prompts]


def prepare(store: Store, registry: Registry, version_a: str, version_b: str, prompts_path: str | Path,
            settings: GenerationSettings) -> int:
    """Store one item per prompt with both versions' responses; returns how many."""
    prompts = read_prompts(prompts_path)
    records = [registry.get(ref) for ref in (version_a, version_b)]
    for record in records:
        if record.payload_kind != "hf":
            raise ValueError(f"{record.id} is a {record.payload_kind!r} artifact: review a Hugging Face ('hf') version")
    store.set_comparison(records[0].id, records[1].id)
    responses = [generate(record.artifact, prompts, settings) for record in records]
    store.add_items([NewItem(p.language, p.prompt_id, p.prompt, ra, rb)
                     for p, ra, rb in zip(prompts, *responses)])
    return len(prompts)
