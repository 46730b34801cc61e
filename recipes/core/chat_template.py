"""Gemma 3 IT chat template with images, tool use and structured output, plus the tool-call parser.

Gemma 3 has no tool tokens and google's Gemma 3 IT template has no tool section: function calling is done by
prompting (ai.google.dev/gemma/docs/capabilities/function-calling). This template writes down one convention so
SFT data, RL rewards, the released checkpoint and the eval all agree on it:

- Turns are google's: ``<start_of_turn>user|model ... <end_of_turn>``; a system message is folded into the first
  user turn; ``{"type": "image"}`` content items become ``<start_of_image>`` (the processor expands it into the
  image token sequence), exactly as in google/gemma-3-*-it.
- Tool declarations (``tools=[json schema, ...]`` of ``apply_chat_template``) go into the first user turn after
  the system text, as JSON, under :data:`TOOL_PREAMBLE`.
- An assistant message's ``tool_calls`` are Python-style calls, one per line, in a ```` ```tool_code ```` block:
  ``get_weather(city="Jakarta", days=3)``; argument values are written as JSON literals.
- ``tool`` role messages become a user turn holding ```` ```tool_output ```` blocks (consecutive results share
  one turn, so user/model turns still alternate).
- Assistant text up to its ``<end_of_turn>`` is wrapped in ``{% generation %}`` so ``return_assistant_tokens_mask``
  marks the loss tokens; the newline after ``<end_of_turn>`` is template, never generated, so it is not a target
  (the same mask as ``data_prep.sft_format.tokenize_conversation``).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

TOOL_PREAMBLE = (
    "You can call the functions declared below. To call one or more, answer with Python calls, one per line, "
    'inside a ```tool_code``` block, for example:\n```tool_code\nfunction_name(argument="value")\n```\n'
    "Only call declared functions, with keyword arguments. Each result comes back in a ```tool_output``` "
    "block; use it to call more functions or to answer.\n\nFunctions:\n"
)

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- macro render_content(content) -%}"
    "{%- if content is none -%}"
    "{%- elif content is string -%}{{ content | trim }}"
    "{%- else -%}{%- for item in content -%}"
    "{%- if item['type'] == 'image' -%}{{ '<start_of_image>' }}"
    "{%- elif item['type'] == 'text' -%}{{ item['text'] | trim }}"
    "{%- else -%}{{ raise_exception('content item type must be image or text, got ' + item['type']) }}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{%- endmacro -%}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set system_text = render_content(messages[0]['content']) -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set system_text = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- set first_user_prefix = system_text + ('\n\n' if system_text else '') -%}"
    "{%- if tools -%}"
    "{%- set ns = namespace(decl='') -%}"
    "{%- for tool in tools -%}"
    "{%- set ns.decl = ns.decl + ((tool['function'] if 'function' in tool else tool) | tojson) + '\n' -%}"
    "{%- endfor -%}"
    "{%- set first_user_prefix = first_user_prefix + '"
    + TOOL_PREAMBLE.replace("\n", "\\n").replace("'", "\\'")
    + "' + ns.decl + '\n' -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if message['role'] == 'tool' -%}"
    "{%- if loop.first or loop.previtem['role'] != 'tool' -%}{{ '<start_of_turn>user\n' }}"
    "{%- else -%}{{ '\n' }}{%- endif -%}"
    "{{ '```tool_output\n' }}{{ render_content(message['content']) }}{{ '\n```' }}"
    "{%- if loop.last or loop.nextitem['role'] != 'tool' -%}{{ '<end_of_turn>\n' }}{%- endif -%}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{ '<start_of_turn>model\n' }}"
    "{%- generation -%}"
    "{{ render_content(message['content']) }}"
    "{%- if message['tool_calls'] -%}"
    "{%- if message['content'] -%}{{ '\n' }}{%- endif -%}"
    "{{ '```tool_code\n' }}"
    "{%- for call in message['tool_calls'] -%}"
    "{%- set fn = call['function'] if 'function' in call else call -%}"
    "{%- if fn['arguments'] is string -%}"
    "{{ raise_exception('tool_calls arguments must be a mapping, not a JSON string: parse it first') }}"
    "{%- endif -%}"
    "{{ fn['name'] + '(' }}"
    "{%- for key, value in fn['arguments'] | items -%}"
    "{{ key + '=' }}{{ value | tojson }}{%- if not loop.last -%}{{ ', ' }}{%- endif -%}"
    "{%- endfor -%}"
    "{{ ')\n' }}"
    "{%- endfor -%}"
    "{{ '```' }}"
    "{%- endif -%}"
    "{{ '<end_of_turn>' }}"
    "{%- endgeneration -%}"
    "{{ '\n' }}"
    "{%- else -%}"
    "{{ '<start_of_turn>' + message['role'] + '\n' + (first_user_prefix if loop.first else '') }}"
    "{{ render_content(message['content']) }}{{ '<end_of_turn>\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)

_TOOL_CODE_BLOCK = re.compile(r"```tool_code\s*\n(.*?)```", re.DOTALL)
_JSON_NAMES = {"true": True, "false": False, "null": None}


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


class ToolCallParseError(ValueError):
    """A ```tool_code``` block that is not a list of keyword-argument calls with literal values."""


def _literal(node: ast.expr) -> Any:
    """A Python or JSON literal (``true``/``false``/``null`` are accepted, as the template writes JSON values)."""
    if isinstance(node, ast.Name) and node.id in _JSON_NAMES:
        return _JSON_NAMES[node.id]
    if isinstance(node, ast.List):
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.Dict):
        if None in node.keys:
            raise ValueError("a ** expansion in a dict is not a literal")
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values) if k is not None}
    return ast.literal_eval(node)


def parse_tool_calls(text: str) -> list[ToolCall]:
    """Every call in the ```tool_code``` blocks of a model answer ([] when there is none).

    Raises ToolCallParseError naming the offending line when a block holds anything but ``name(key=literal)``.
    """
    calls = []
    for block in _TOOL_CODE_BLOCK.findall(text):
        for line in filter(None, (line.strip() for line in block.splitlines())):
            try:
                expr = ast.parse(line, mode="eval").body
            except SyntaxError as err:
                raise ToolCallParseError(f"tool_code line is not Python: {line!r} ({err.msg})") from err
            if (
                not isinstance(expr, ast.Call)
                or not isinstance(expr.func, ast.Name)
                or expr.args
                or any(kw.arg is None for kw in expr.keywords)  # name(**mapping)
            ):
                raise ToolCallParseError(f"tool_code line must be name(key=value, ...): {line!r}")
            try:
                arguments = {kw.arg: _literal(kw.value) for kw in expr.keywords if kw.arg is not None}
            except ValueError as err:
                raise ToolCallParseError(f"tool_code argument is not a literal in {line!r}") from err
            calls.append(ToolCall(expr.func.id, arguments))
    return calls
