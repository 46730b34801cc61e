"""Tool-use and structured-output conversations -> SFT / RL / APO examples under the Gemma 3 chat template.

Records are JSON objects (one per JSONL line) in the OpenAI-style shape most tool datasets use::

    {"messages": [{"role": "user", "content": "..."},
                  {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {...}}}]},
                  {"role": "tool", "content": "..."}, {"role": "assistant", "content": "..."}],
     "tools": [{"type": "function", "function": {"name": "f", "parameters": {...json schema...}}}],
     "response_schema": {...json schema...}}          # optional: a structured-output request

Why it is shaped this way:
  - Rendering and loss masks both come from ``recipes.core.chat_template.CHAT_TEMPLATE`` through
    ``apply_chat_template(return_assistant_tokens_mask=True)``, so the loss covers exactly the model turns
    (tool calls included, tool outputs and prompts excluded) and SFT, RL and APO see the same text as inference.
    ``data_prep.sft_format.tokenize_conversation`` (the general formatter) accepts only system/user/assistant
    string messages, so it cannot take tool turns or images; on plain chats both give the same ids and mask
    (tested), and MaskedText has its ``input_ids``/``loss_mask`` fields, so its packing takes these rows as they are.
  - Records are checked before rendering: arguments given as JSON strings are parsed, a call to an undeclared
    function or a tool result without a preceding call is refused, and a structured-output answer must validate
    against its schema (``jsonschema``), so bad training targets fail here, naming the record and field.
  - A structured-output request adds its schema to the system text; the answer is the JSON object itself.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from rich.progress import track

from recipes.core.chat_template import CHAT_TEMPLATE

SCHEMA_INSTRUCTION = "Answer with one JSON object, and nothing else, that conforms to this JSON schema:\n"
MODES = ("sft", "rl", "apo")


class RecordError(ValueError):
    """A conversation record that cannot be a training example; the message names the field to fix."""


@dataclass
class ToolFormatSettings:
    mode: str = "sft"
    max_seq_length: int = 4096
    #: Drop (and count) examples longer than max_seq_length instead of failing.
    drop_overlong: bool = True


@dataclass
class MaskedText:
    """A rendered conversation, its token ids and the 0/1 loss mask (1 on model-turn tokens)."""

    text: str
    input_ids: list[int]
    loss_mask: list[int]


@dataclass
class RLPrompt:
    """The prompt up to the final model turn, and what a correct answer holds (for the reward)."""

    prompt: str
    reference_tool_calls: list[dict] = field(default_factory=list)
    reference_content: str = ""
    response_schema: dict | None = None


@dataclass
class PreferencePair:
    """A shared prompt and two full conversations (the rows ``data_prep.sft_format.run_preference`` writes)."""

    prompt: str
    chosen: MaskedText
    rejected: MaskedText

    def row(self) -> dict:
        return {
            "prompt": self.prompt,
            **{
                f"{side}_{key}": getattr(getattr(self, side), key)
                for side in ("chosen", "rejected")
                for key in ("input_ids", "loss_mask")
            },
        }


def render_with_mask(
    tokenizer, messages: list[dict], tools: list[dict] | None = None, chat_template: str = CHAT_TEMPLATE
) -> MaskedText:
    """Render messages and mark the model-turn tokens (reply + ``<end_of_turn>``) via ``{% generation %}``."""
    out = tokenizer.apply_chat_template(
        messages,
        tools=tools,
        chat_template=chat_template,
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    text = tokenizer.apply_chat_template(messages, tools=tools, chat_template=chat_template, tokenize=False)
    return MaskedText(text, list(out["input_ids"]), list(out["assistant_masks"]))


def _declared_names(tools: list[dict], where: str) -> set[str]:
    names: list[Any] = [(tool.get("function") or tool).get("name") for tool in tools]
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name.isidentifier():
            raise RecordError(f"{where}: tools[{i}] needs a 'name' that is a Python identifier, got {name!r}")
    return set(names)


def normalize(record: dict, where: str = "record") -> tuple[list[dict], list[dict] | None]:
    """Checked, template-ready (messages, tools) of a record: arguments parsed, schema instruction added."""
    if not isinstance(record.get("messages"), list) or not record["messages"]:
        raise RecordError(f"{where}: 'messages' must be a non-empty list of {{role, content}} objects")
    messages = copy.deepcopy(record["messages"])
    tools = record.get("tools") or None
    declared = _declared_names(tools, where) if tools else set()
    schema = record.get("response_schema")
    pending_calls = 0
    for i, message in enumerate(messages):
        role = message.get("role")
        if role not in ("system", "user", "assistant", "tool"):
            raise RecordError(f"{where}: messages[{i}].role is {role!r}; use system, user, assistant or tool")
        if role == "tool" and pending_calls == 0:
            raise RecordError(f"{where}: messages[{i}] is a tool result with no assistant tool_calls before it")
        pending_calls = pending_calls - 1 if role == "tool" else pending_calls
        if message.get("tool_calls") and role != "assistant":
            raise RecordError(f"{where}: messages[{i}] has tool_calls but only assistant messages may call tools")
        for j, call in enumerate(message.get("tool_calls") or []):
            fn = call.get("function", call)
            if fn.get("name") not in declared:
                raise RecordError(
                    f"{where}: messages[{i}].tool_calls[{j}] calls {fn.get('name')!r}, which is not "
                    f"declared in 'tools' ({sorted(declared)})"
                )
            if isinstance(fn.get("arguments"), str):
                try:
                    fn["arguments"] = json.loads(fn["arguments"])
                except json.JSONDecodeError as err:
                    raise RecordError(
                        f"{where}: messages[{i}].tool_calls[{j}].function.arguments is not JSON: {err}"
                    ) from err
            if not isinstance(fn.get("arguments", {}), dict):
                raise RecordError(f"{where}: messages[{i}].tool_calls[{j}] arguments must be an object")
            fn.setdefault("arguments", {})
        if role == "assistant":
            pending_calls = len(message.get("tool_calls") or [])
            if isinstance(message.get("content"), (dict, list)) and schema is not None:
                message["content"] = json.dumps(message["content"], ensure_ascii=False)
    if schema is not None:
        _check_structured_answer(messages, schema, where)
        instruction = SCHEMA_INSTRUCTION + json.dumps(schema, ensure_ascii=False)
        if messages[0]["role"] == "system":
            if not isinstance(messages[0]["content"], str):
                raise RecordError(f"{where}: messages[0] (system) content must be a string with a response_schema")
            messages[0]["content"] = f"{messages[0]['content'].rstrip()}\n\n{instruction}"
        else:
            messages.insert(0, {"role": "system", "content": instruction})
    return messages, tools


def _check_structured_answer(messages: list[dict], schema: dict, where: str) -> None:
    answers = [m for m in messages if m["role"] == "assistant" and not m.get("tool_calls")]
    if not answers:
        return
    try:
        jsonschema.validate(json.loads(answers[-1]["content"]), schema)
    except json.JSONDecodeError as err:
        raise RecordError(f"{where}: the final assistant content must be JSON for a response_schema: {err}") from err
    except jsonschema.ValidationError as err:
        raise RecordError(f"{where}: the final assistant answer breaks response_schema: {err.message}") from err


def format_sft(tokenizer, record: dict, where: str = "record") -> MaskedText:
    messages, tools = normalize(record, where)
    if messages[-1]["role"] != "assistant":
        raise RecordError(f"{where}: an SFT conversation must end with an assistant message")
    return render_with_mask(tokenizer, messages, tools)


def _split_last_turn(record: dict, where: str) -> tuple[list[dict], list[dict] | None, dict]:
    messages, tools = normalize(record, where)
    if messages[-1]["role"] != "assistant":
        raise RecordError(f"{where}: the conversation must end with the assistant turn to learn")
    return messages[:-1], tools, messages[-1]


def format_rl_prompt(tokenizer, record: dict, where: str = "record") -> RLPrompt:
    """Prompt text (generation prompt appended) and the reference final turn for a tool/JSON reward."""
    context, tools, last = _split_last_turn(record, where)
    prompt = tokenizer.apply_chat_template(
        context, tools=tools, chat_template=CHAT_TEMPLATE, tokenize=False, add_generation_prompt=True
    )
    calls = [
        dict(name=(c.get("function") or c)["name"], arguments=(c.get("function") or c)["arguments"])
        for c in last.get("tool_calls") or []
    ]
    return RLPrompt(prompt, calls, last.get("content") or "", record.get("response_schema"))


def format_preference(tokenizer, record: dict, where: str = "record") -> PreferencePair:
    """APO/DPO pair: ``record["chosen"]`` and ``record["rejected"]`` are assistant messages after ``messages``."""
    for key in ("chosen", "rejected"):
        if not isinstance(record.get(key), dict) or record[key].get("role") != "assistant":
            raise RecordError(f"{where}: '{key}' must be an assistant message object")
    sides = {
        key: format_sft(tokenizer, {**record, "messages": record["messages"] + [record[key]]}, where)
        for key in ("chosen", "rejected")
    }
    prompt = format_rl_prompt(tokenizer, {**record, "messages": record["messages"] + [record["chosen"]]}, where)
    for key, side in sides.items():
        if not side.text.startswith(prompt.prompt):
            raise RecordError(f"{where}: the rendered {key} conversation does not extend the prompt")
    return PreferencePair(prompt.prompt, sides["chosen"], sides["rejected"])


def run(settings: ToolFormatSettings, input_path: str, output_path: str, tokenizer_path: str) -> dict:
    """Format a JSONL file of records; returns counts.

    Rows: sft -> text, input_ids, loss_mask; rl -> prompt + reference; apo -> prompt, {chosen,rejected}_input_ids,
    {chosen,rejected}_loss_mask (the keys of ``data_prep.sft_format.run_preference``).
    """
    from transformers import AutoTokenizer

    if settings.mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {settings.mode!r}")
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    lines = Path(input_path).read_text().splitlines()
    written = dropped = 0
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    with open(output_path, "w") as out:
        for n, line in enumerate(track(lines, description=f"format {settings.mode}"), start=1):
            if not line.strip():
                continue
            record, where = json.loads(line), f"{input_path}:{n}"
            if settings.mode == "sft":
                row: Any = format_sft(tokenizer, record, where)
                if len(row.input_ids) > settings.max_seq_length:
                    if not settings.drop_overlong:
                        raise RecordError(
                            f"{where}: {len(row.input_ids)} tokens > max_seq_length {settings.max_seq_length}"
                        )
                    dropped += 1
                    continue
            elif settings.mode == "rl":
                row = format_rl_prompt(tokenizer, record, where)
            else:
                row = format_preference(tokenizer, record, where)
            out.write(json.dumps(row.row() if settings.mode == "apo" else asdict(row), ensure_ascii=False) + "\n")
            written += 1
    return {"mode": settings.mode, "written": written, "dropped_overlong": dropped, "output": output_path}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data_prep.tool_format", description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="JSONL of conversation records")
    parser.add_argument("output", help="JSONL to write")
    parser.add_argument("--tokenizer", required=True, help="Hugging Face tokenizer directory (Gemma 3)")
    parser.add_argument("--mode", choices=MODES, default="sft")
    parser.add_argument("--max-seq-length", type=int, default=4096)
    args = parser.parse_args(argv)
    try:
        summary = run(ToolFormatSettings(args.mode, args.max_seq_length), args.input, args.output, args.tokenizer)
    except RecordError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
