"""Generate both versions' responses to a prompt set and store them as review items, so a session is reproducible.

Generation goes through the local evaluator's model wrapper (`evals.local_eval`: the version's chat template,
greedy decoding), the same path the quick SEA evaluation uses. Everything that can be wrong with the inputs (the
prompt file, the version ids, the database's pair) is checked before a model is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from recipes.artifacts.versions import Registry
from recipes.review.store import NewItem, Store


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
    """The CLAIR prompt format, so one prompt set serves both: JSONL lines of `id`, `lang` and `prompt` (or
    `messages` of a single user turn: a reviewer judges one prompt)."""
    from data_prep.clair import ClairError
    from data_prep.clair import read_prompts as read_clair_prompts

    try:
        rows = read_clair_prompts(path)
    except ClairError as err:
        raise ValueError(str(err)) from None
    if not rows:
        raise ValueError(f"{path}: no prompts; write JSONL lines of id, lang, prompt")
    several = [row.id for row in rows if len(row.messages) != 1]
    if several:
        raise ValueError(f"{path}: prompts {several[:3]} have several turns; give each a single 'prompt'")
    return [Prompt(row.lang, row.id, row.messages[0]["content"]) for row in rows]


def generate(model_dir: str | Path, prompts: list[Prompt], settings: GenerationSettings) -> list[str]:
    from evals.local_eval import LoadedModel, LocalEvalSettings

    model = LoadedModel(str(model_dir), LocalEvalSettings(dtype=settings.dtype, device=settings.device))
    return [model.generate(p.prompt, settings.max_new_tokens).strip() for p in prompts]


def prepare(
    store: Store,
    registry: Registry,
    version_a: str,
    version_b: str,
    prompts_path: str | Path,
    settings: GenerationSettings,
) -> int:
    """Store one item per prompt with both versions' responses; returns how many."""
    prompts = read_prompts(prompts_path)
    records = [registry.get(ref) for ref in (version_a, version_b)]
    for record in records:
        if record.payload_kind != "hf":
            raise ValueError(f"{record.id} is a {record.payload_kind!r} artifact: review a Hugging Face ('hf') version")
    store.set_comparison(records[0].id, records[1].id)
    taken = sorted(store.prompt_keys() & {(p.language, p.prompt_id) for p in prompts})
    if taken:
        raise ValueError(
            f"{prompts_path}: {len(taken)} prompts are already in this database (first: {taken[0]}); "
            "give them new ids or use a new --db"
        )
    responses = [generate(record.artifact, prompts, settings) for record in records]
    store.add_items([NewItem(p.language, p.prompt_id, p.prompt, ra, rb) for p, ra, rb in zip(prompts, *responses)])
    return len(prompts)
