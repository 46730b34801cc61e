"""IFEval instruction ids + kwargs (Google IFEval's and Nemotron RL's `args` layout) -> the constraints of
`recipes.posttrain.rewards_ifeval`, and the JSON spec that carries them to the reward environment.

NeMo-RL's response dataset hands the environment only a record's `output` (as `ground_truth`), so an
instruction-following record stores its spec there: `{"task": "ifeval", "language", "instruction_id_list",
"kwargs"}` in IFEval's own vocabulary, rebuilt into constraints by the same mapping on the environment's side.
The spec is built (and so checked) when the RL data is converted: an id this module does not know is an
`IFEvalSpecError` naming it there, never a silent reward of 1 during training.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from recipes.core.language_id import detect_language
from recipes.posttrain.rewards_ifeval import (
    AllLowercase,
    BulletPointCount,
    Constraint,
    EndsWith,
    KeywordsForbidden,
    KeywordsIncluded,
    NoCommas,
    ParagraphCount,
    SentenceCount,
    StartsWith,
    ValidJSON,
    WordCount,
    check_constraints,
)

SPEC_TASK = "ifeval"


class IFEvalSpecError(ValueError):
    """An instruction this repo cannot check, or kwargs that do not fit it: fix or skip the prompt.
    `reason` is the short form data conversion counts skipped prompts by."""

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.reason = reason or message


def _bounds(kwargs: Mapping[str, Any], count_key: str) -> dict[str, int]:
    """IFEval's relations: "at least N" is >= N, "less than N" is <= N - 1."""
    relation, count = kwargs["relation"], int(kwargs[count_key])
    if relation == "at least":
        return {"at_least": count}
    if relation == "less than":
        return {"at_most": count - 1}
    raise IFEvalSpecError(f"relation={relation!r}; IFEval uses 'at least' or 'less than'")


@dataclass(frozen=True)
class _Builder:
    required: tuple[str, ...]
    build: Callable[[Mapping[str, Any]], Constraint]


_BUILDERS: dict[str, _Builder] = {
    WordCount.name: _Builder(("relation", "num_words"), lambda k: WordCount(**_bounds(k, "num_words"))),
    SentenceCount.name: _Builder(("relation", "num_sentences"), lambda k: SentenceCount(**_bounds(k, "num_sentences"))),
    ParagraphCount.name: _Builder(("num_paragraphs",), lambda k: ParagraphCount(int(k["num_paragraphs"]))),
    KeywordsIncluded.name: _Builder(("keywords",), lambda k: KeywordsIncluded(tuple(k["keywords"]))),
    KeywordsForbidden.name: _Builder(("forbidden_words",), lambda k: KeywordsForbidden(tuple(k["forbidden_words"]))),
    # Not in Google IFEval; its kwarg is named after end_checker's end_phrase.
    StartsWith.name: _Builder(("start_phrase",), lambda k: StartsWith(k["start_phrase"])),
    EndsWith.name: _Builder(("end_phrase",), lambda k: EndsWith(k["end_phrase"])),
    ValidJSON.name: _Builder((), lambda k: ValidJSON()),
    BulletPointCount.name: _Builder(("num_bullets",), lambda k: BulletPointCount(int(k["num_bullets"]))),
    AllLowercase.name: _Builder((), lambda k: AllLowercase()),
    NoCommas.name: _Builder((), lambda k: NoCommas()),
}
SUPPORTED_INSTRUCTIONS = tuple(sorted(_BUILDERS))


def build_constraint(instruction_id: str, kwargs: Mapping[str, Any] | None) -> Constraint:
    """One constraint; kwargs set to None are dropped (Google IFEval lists every kwarg name on every row)."""
    if instruction_id not in _BUILDERS:
        raise IFEvalSpecError(
            f"instruction {instruction_id!r} has no checker here; supported: "
            f"{list(SUPPORTED_INSTRUCTIONS)} (or convert with --skip-unsupported)",
            reason=f"unsupported instruction {instruction_id}",
        )
    builder = _BUILDERS[instruction_id]
    given = {key: value for key, value in (kwargs or {}).items() if value is not None}
    missing = [key for key in builder.required if key not in given]
    unexpected = sorted(set(given) - set(builder.required))
    if missing or unexpected:
        raise IFEvalSpecError(
            f"instruction {instruction_id!r}: kwargs {given} lack {missing} / have unknown "
            f"{unexpected}; it takes {list(builder.required)}"
        )
    try:
        return builder.build(given)
    except (TypeError, ValueError) as err:
        raise IFEvalSpecError(f"instruction {instruction_id!r}: kwargs {given}: {err}") from err


@dataclass(frozen=True)
class IFEvalSpec:
    """What the reward needs for one prompt: its language (ISO 639-1) and its instructions in IFEval's form."""

    language: str
    instruction_id_list: tuple[str, ...]
    kwargs: tuple[Mapping[str, Any], ...]

    def constraints(self) -> tuple[Constraint, ...]:
        return tuple(build_constraint(i, k) for i, k in zip(self.instruction_id_list, self.kwargs))

    def to_json(self) -> str:
        return json.dumps(
            {
                "task": SPEC_TASK,
                "language": self.language,
                "instruction_id_list": list(self.instruction_id_list),
                "kwargs": list(self.kwargs),
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> IFEvalSpec:
        data = json.loads(text)
        if not is_spec(data):
            raise IFEvalSpecError(f"not an ifeval spec (want a JSON object with task={SPEC_TASK!r}): {text[:200]!r}")
        return cls(data["language"], tuple(data["instruction_id_list"]), tuple(data["kwargs"]))


def is_spec(data: Any) -> bool:
    return isinstance(data, dict) and data.get("task") == SPEC_TASK


def build_spec(args: Mapping[str, Any], prompt: str, language: str | None = None) -> IFEvalSpec:
    """The spec of one prompt from IFEval/Nemotron `args` ({"instruction_id_list", "kwargs"}), checked now.

    `language` is the record's own when it has one, else detected from the prompt text."""
    ids = list(args.get("instruction_id_list") or [])
    kwargs: Sequence[Mapping[str, Any] | None] = args.get("kwargs") or [{} for _ in ids]
    if len(kwargs) != len(ids):
        raise IFEvalSpecError(f"{len(ids)} instruction ids but {len(kwargs)} kwargs entries; they pair up by position")
    spec = IFEvalSpec(language or detect_language(prompt), tuple(ids), tuple(dict(k or {}) for k in kwargs))
    constraints = spec.constraints()
    try:
        check_constraints(constraints, spec.language)
    except ValueError as err:  # no constraints, or one its script cannot follow (lowercase Thai)
        raise IFEvalSpecError(str(err)) from err
    return spec
