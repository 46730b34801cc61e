"""CLAIR preference pairs (D'Oosterlinck et al. 2024): rejected = the policy's own answer, chosen = a minimal
revision of it by a stronger reviser model. Minimal revisions make the pair differ only where the answer was
wrong, which is the contrast APO trains on (the SEA-LION v4 card's "rejected-chosen pairs generated from the target
model, with the chosen responses obtained by rewriting and improving upon the rejected outputs").

Steps, each resumable (rows already on disk are skipped, so a rerun after a crash or a dead endpoint continues):
1. `rejected.jsonl`: the policy answers every prompt, in-process with transformers or through an
   OpenAI-compatible endpoint (vLLM on the cluster).
2. `revised.jsonl`: the reviser, behind an OpenAI-compatible endpoint, minimally revises each answer.
3. `pairs.jsonl` (the preference format of `data_prep.sft_format`: prompt messages, chosen, rejected) and
   `clair_summary.json`; pairs whose revision is empty, unchanged or not in the prompt's language are dropped and
   counted by reason.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.progress import Progress

from recipes.core.chat_endpoint import EndpointError, EndpointSettings, complete, open_client
from recipes.core.jsonl import jsonl_rows
from recipes.core.language_id import response_in_language
from recipes.core.languages import LANGUAGE_NAMES

POLICY_BACKENDS = ("transformers", "openai")
FILTER_REASONS = ("empty_revision", "identical", "wrong_language")

# The reviser prompt is written in English (strong revisers follow English instructions best) and names the
# target language (recipes.core.languages.LANGUAGE_NAMES), so the revision stays in the language of the request.
REVISION_TEMPLATE = (
    "Below is a request and an answer to it. Minimally revise the answer to make it better and correct: fix what "
    "is wrong, add what is missing, and keep everything that is already good exactly as it is. Do not rewrite it "
    "in your own style. The request is in {language}; the revised answer must be written in {language}. Output "
    "only the revised answer, with no preamble, notes or quotation marks.\n\n"
    "Request:\n{request}\n\nAnswer to revise:\n{answer}"
)


class ClairError(RuntimeError):
    """A bad input record, an output directory made with other settings, or an endpoint that gave up."""


@dataclass
class ClairSettings:
    policy_backend: str = "transformers"  # "transformers": in-process generate; "openai": an endpoint
    # The policy: a model directory for transformers; for openai its endpoint and served model name.
    policy: EndpointSettings = field(
        default_factory=lambda: EndpointSettings(model="", temperature=0.0, max_tokens=1024)
    )
    reviser: EndpointSettings = field(
        default_factory=lambda: EndpointSettings(model="reviser", temperature=0.0, max_tokens=2048)
    )
    batch_size: int = 8  # prompts per transformers `generate` call
    seed: int = 0  # sampling seed of the policy (used when policy.temperature > 0)


@dataclass
class Prompt:
    id: str
    messages: list[dict]
    lang: str


@dataclass
class ClairSummary:
    output: str
    prompts: int = 0
    pairs: int = 0
    filtered: dict[str, int] = field(default_factory=lambda: {reason: 0 for reason in FILTER_REASONS})
    pairs_per_language: dict[str, int] = field(default_factory=dict)
    settings_hash: str = ""


def settings_hash(settings: ClairSettings) -> str:
    """Hash of what decides the outputs (models, sampling, reviser prompt), not of where they run: a rerun may use
    another endpoint URL, but never mixes answers made with other settings into one directory."""
    content = {
        "policy_backend": settings.policy_backend,
        "seed": settings.seed,
        "revision_template": REVISION_TEMPLATE,
        **{
            f"{role}_{key}": getattr(getattr(settings, role), key)
            for role in ("policy", "reviser")
            for key in ("model", "temperature", "max_tokens")
        },
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def read_prompts(path: str | Path) -> list[Prompt]:
    """JSONL rows {id, prompt (a string) or messages (ending with a user turn), lang}; errors name the line."""
    prompts, seen = [], set()
    for n, row in jsonl_rows(path, ClairError):
        where = f"{path}:{n}"
        record_id = row.get("id")
        if not isinstance(record_id, (str, int)) or str(record_id) in seen:
            raise ClairError(f"{where}: 'id' must be a unique string or integer; got {record_id!r}")
        if row.get("lang") not in LANGUAGE_NAMES:
            raise ClairError(f"{where}: 'lang' must be one of {', '.join(LANGUAGE_NAMES)}; got {row.get('lang')!r}")
        messages = row.get("messages")
        if messages is None and isinstance(row.get("prompt"), str) and row["prompt"].strip():
            messages = [{"role": "user", "content": row["prompt"]}]
        if (
            not isinstance(messages, list)
            or not messages
            or not all(isinstance(m, dict) for m in messages)
            or messages[-1].get("role") != "user"
        ):
            raise ClairError(f"{where}: give a non-empty 'prompt' string or 'messages' ending with a 'user' turn")
        seen.add(str(record_id))
        prompts.append(Prompt(str(record_id), messages, row["lang"]))
    return prompts


def _load_rows(path: Path) -> dict[str, dict]:
    """Rows already written, by id. A torn last line (the run was killed mid-write) is cut off so it is redone."""
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf-8")
    rows, good_end = {}, 0
    for line in text.splitlines(keepends=True):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if line.endswith("\n") or good_end + len(line) != len(text):
                raise ClairError(
                    f"{path}: a corrupt line in the middle of the file ({line[:80]!r}); delete it to redo that record"
                ) from None
            break
        rows[row["id"]] = row
        good_end += len(line)
    if good_end != len(text):
        path.write_text(text[:good_end], encoding="utf-8")
    return rows


def _append(path: Path, row: dict) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _batches(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def hash_index(record_id: str) -> int:
    """A stable small integer from a record id (Python's hash() changes between processes)."""
    return int(hashlib.sha256(record_id.encode()).hexdigest()[:8], 16)


def _generate_transformers(settings: ClairSettings, pending: list[Prompt], path: Path, progress: Progress) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed

    tokenizer = AutoTokenizer.from_pretrained(settings.policy.model, padding_side="left")
    on_gpu = torch.cuda.is_available()
    # float32 on CPU: bf16 matmuls are several times slower there.
    model = AutoModelForCausalLM.from_pretrained(settings.policy.model, dtype="auto" if on_gpu else torch.float32)
    model.to("cuda" if on_gpu else "cpu").eval()
    sampled = settings.policy.temperature > 0
    set_seed(settings.seed)
    bar = progress.add_task("policy answers", total=len(pending))
    for batch in _batches(pending, settings.batch_size):
        inputs = tokenizer.apply_chat_template(
            [p.messages for p in batch], add_generation_prompt=True, padding=True, return_tensors="pt", return_dict=True
        ).to(model.device)
        with torch.no_grad():
            out = model.generate(
                **inputs,
                max_new_tokens=settings.policy.max_tokens,
                do_sample=sampled,
                **({"temperature": settings.policy.temperature} if sampled else {}),
            )
        answers = tokenizer.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        for prompt, answer in zip(batch, answers):
            _append(path, {"id": prompt.id, "rejected": answer.strip()})
        progress.advance(bar, len(batch))


def _generate_openai(settings: ClairSettings, pending: list[Prompt], path: Path, progress: Progress) -> None:
    bar = progress.add_task("policy answers", total=len(pending))
    with open_client(settings.policy) as client:
        for prompt in pending:
            # A seed per record, so a resumed run samples each record as an uninterrupted run would.
            seed = settings.seed + hash_index(prompt.id) if settings.policy.temperature > 0 else None
            policy = EndpointSettings(**{**asdict(settings.policy), "seed": seed})
            _append(path, {"id": prompt.id, "rejected": complete(client, policy, prompt.messages).strip()})
            progress.advance(bar)


def revision_request(prompt: Prompt, answer: str) -> str:
    """The reviser's instruction for one answer; a multi-turn prompt is shown as a transcript."""
    if len(prompt.messages) == 1:
        request = prompt.messages[0]["content"]
    else:
        request = "\n".join(f"[{m['role']}] {m['content']}" for m in prompt.messages)
    return REVISION_TEMPLATE.format(language=LANGUAGE_NAMES[prompt.lang], request=request, answer=answer)


def _revise(
    settings: ClairSettings, pending: list[Prompt], rejected: dict[str, dict], path: Path, progress: Progress
) -> None:
    bar = progress.add_task("revisions", total=len(pending))
    with open_client(settings.reviser) as client:
        for prompt in pending:
            revision = complete(client, settings.reviser, revision_request(prompt, rejected[prompt.id]["rejected"]))
            _append(
                path,
                {
                    "id": prompt.id,
                    "revision": revision.strip(),
                    "endpoint": settings.reviser.base_url,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                },
            )
            progress.advance(bar)


def filter_reason(prompt: Prompt, rejected: str, revision: str) -> str | None:
    """Why a pair is dropped, or None to keep it."""
    if not revision.strip():
        return "empty_revision"
    if " ".join(revision.split()) == " ".join(rejected.split()):
        return "identical"
    if not response_in_language(revision, prompt.lang):
        return "wrong_language"
    return None


def _check_settings(settings: ClairSettings, out: Path) -> str:
    """Record the settings hash in the output directory; refuse to resume one made with other settings."""
    digest = settings_hash(settings)
    recorded = out / "clair_settings.json"
    if recorded.exists():
        previous = json.loads(recorded.read_text())["settings_hash"]
        if previous != digest:
            raise ClairError(
                f"{out} holds answers made with other settings (hash {previous}, now {digest}); "
                "use a new output directory or the original settings"
            )
    else:
        public = asdict(settings)
        for role in ("policy", "reviser"):
            public[role].pop("api_key_env")
        recorded.write_text(json.dumps({"settings_hash": digest, "settings": public}, indent=2))
    return digest


def run(settings: ClairSettings, prompts_path: str | Path, output_dir: str | Path) -> ClairSummary:
    """Generate, revise, filter; returns the summary (also written to clair_summary.json)."""
    if settings.policy_backend not in POLICY_BACKENDS:
        raise ClairError(f"policy_backend={settings.policy_backend!r}; use one of {POLICY_BACKENDS}")
    if not settings.policy.model:
        raise ClairError("the policy model is empty; set --policy-model (a model directory, or the served name)")
    prompts = read_prompts(prompts_path)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    digest = _check_settings(settings, out)
    rejected_path, revised_path = out / "rejected.jsonl", out / "revised.jsonl"
    with Progress() as progress:
        rejected = _load_rows(rejected_path)
        pending = [p for p in prompts if p.id not in rejected]
        if pending:
            generate = _generate_transformers if settings.policy_backend == "transformers" else _generate_openai
            try:
                generate(settings, pending, rejected_path, progress)
            except EndpointError as err:
                raise ClairError(
                    f"policy endpoint: {err}; {_saved(rejected_path, prompts)} are saved in "
                    f"{rejected_path}; rerun the same command to resume"
                ) from err
            rejected = _load_rows(rejected_path)
        revised = _load_rows(revised_path)
        pending = [p for p in prompts if p.id not in revised]
        if pending:
            try:
                _revise(settings, pending, rejected, revised_path, progress)
            except EndpointError as err:
                raise ClairError(
                    f"reviser endpoint: {err}; {_saved(revised_path, prompts)} are saved in "
                    f"{revised_path}; rerun the same command to resume"
                ) from err
            revised = _load_rows(revised_path)
    return _write_pairs(settings, prompts, rejected, revised, out, digest)


def _saved(path: Path, prompts: list[Prompt]) -> str:
    return f"{len(_load_rows(path))} of {len(prompts)} answers"


def _write_pairs(
    settings: ClairSettings,
    prompts: list[Prompt],
    rejected: dict[str, dict],
    revised: dict[str, dict],
    out: Path,
    digest: str,
) -> ClairSummary:
    summary = ClairSummary(str(out / "pairs.jsonl"), prompts=len(prompts), settings_hash=digest)
    policy = f"{settings.policy_backend}:{settings.policy.model}"
    with (out / "pairs.jsonl").open("w", encoding="utf-8") as f:
        for prompt in prompts:
            answer, revision = rejected[prompt.id]["rejected"], revised[prompt.id]
            reason = filter_reason(prompt, answer, revision["revision"])
            if reason:
                summary.filtered[reason] += 1
                continue
            summary.pairs += 1
            summary.pairs_per_language[prompt.lang] = summary.pairs_per_language.get(prompt.lang, 0) + 1
            provenance = {
                "policy": policy,
                "reviser": settings.reviser.model,
                "endpoint": revision["endpoint"],
                "created": revision["created"],
                "settings_hash": digest,
            }
            f.write(
                json.dumps(
                    {
                        "id": prompt.id,
                        "prompt": prompt.messages,
                        "chosen": revision["revision"],
                        "rejected": answer,
                        "lang": prompt.lang,
                        "provenance": provenance,
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    (out / "clair_summary.json").write_text(json.dumps(asdict(summary), indent=2))
    return summary


def main(argv: list[str] | None = None) -> int:
    defaults = ClairSettings()
    parser = argparse.ArgumentParser(prog="python -m data_prep.clair", description=__doc__.split("\n\n")[0])
    parser.add_argument("prompts", help="JSONL of {id, prompt or messages, lang}")
    parser.add_argument("--output-dir", required=True, help="rejected/revised/pairs JSONL go here; rerun to resume")
    parser.add_argument("--policy-backend", choices=POLICY_BACKENDS, default=defaults.policy_backend)
    parser.add_argument("--policy-model", required=True, help="model directory (transformers) or served model name")
    parser.add_argument("--policy-base-url", default=defaults.policy.base_url, help="endpoint of the openai backend")
    parser.add_argument("--policy-temperature", type=float, default=defaults.policy.temperature, help="0: greedy")
    parser.add_argument("--policy-max-tokens", type=int, default=defaults.policy.max_tokens)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--reviser-model", default=defaults.reviser.model, help="served model name of the reviser")
    parser.add_argument("--reviser-base-url", default=defaults.reviser.base_url)
    parser.add_argument("--reviser-temperature", type=float, default=defaults.reviser.temperature)
    parser.add_argument("--reviser-max-tokens", type=int, default=defaults.reviser.max_tokens)
    parser.add_argument("--max-retries", type=int, default=defaults.reviser.max_retries)
    parser.add_argument("--backoff-s", type=float, default=defaults.reviser.backoff_s, help="first retry delay")
    parser.add_argument("--api-key-env", default=defaults.reviser.api_key_env, help="env var holding the API key")
    args = parser.parse_args(argv)
    shared = {"max_retries": args.max_retries, "backoff_s": args.backoff_s, "api_key_env": args.api_key_env}
    settings = ClairSettings(
        policy_backend=args.policy_backend,
        policy=EndpointSettings(
            base_url=args.policy_base_url,
            model=args.policy_model,
            temperature=args.policy_temperature,
            max_tokens=args.policy_max_tokens,
            **shared,
        ),
        reviser=EndpointSettings(
            base_url=args.reviser_base_url,
            model=args.reviser_model,
            temperature=args.reviser_temperature,
            max_tokens=args.reviser_max_tokens,
            **shared,
        ),
        batch_size=args.batch_size,
        seed=args.seed,
    )
    try:
        summary = run(settings, args.prompts, args.output_dir)
    except ClairError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(json.dumps(asdict(summary), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
