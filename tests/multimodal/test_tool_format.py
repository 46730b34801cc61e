"""Tool-call and structured-output conversations under the Gemma 3 chat template, with the real tokenizer."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from data_prep.tool_format import RecordError, format_preference, format_rl_prompt, format_sft, render_with_mask
from recipes.core.chat_template import ToolCallParseError, parse_tool_calls
from tests.helpers.tiny_gemma3 import REPO_ROOT

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "book_ferry",
            "description": "Book a ferry ticket.",
            "parameters": {
                "type": "object",
                "properties": {
                    "route": {"type": "string"},
                    "passengers": {"type": "integer"},
                    "return_trip": {"type": "boolean"},
                    "extras": {"type": "object"},
                },
                "required": ["route", "passengers"],
            },
        },
    }
]
ARGS = {
    "route": 'Batam "Harbour" → Singapura',
    "passengers": 2,
    "return_trip": False,
    "extras": {"meals": ["nasi lemak"], "note": None},
}
TOOL_RECORD = {
    "tools": TOOLS,
    "messages": [
        {"role": "system", "content": "Kamu asisten perjalanan."},
        {"role": "user", "content": "Pesan feri Batam ke Singapura untuk dua orang."},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"type": "function", "function": {"name": "book_ferry", "arguments": ARGS}}],
        },
        {"role": "tool", "content": '{"booking": "BF-118"}'},
        {"role": "assistant", "content": "Sudah dipesan: BF-118."},
    ],
}
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "population_millions": {"type": "number"}},
    "required": ["city", "population_millions"],
    "additionalProperties": False,
}
JSON_RECORD = {
    "response_schema": SCHEMA,
    "messages": [
        {"role": "user", "content": "Largest city of Vietnam and its population?"},
        {"role": "assistant", "content": {"city": "Hồ Chí Minh", "population_millions": 9.3}},
    ],
}


def _masked_text(tokenizer, example):
    return tokenizer.decode([i for i, m in zip(example.input_ids, example.loss_mask) if m])


def test_tool_call_conversation_masks_exactly_the_model_turns(gemma3_tokenizer):
    example = format_sft(gemma3_tokenizer, TOOL_RECORD)
    assert example.input_ids[0] == 2 and len(example.input_ids) == len(example.loss_mask)
    assert example.input_ids == gemma3_tokenizer(example.text, add_special_tokens=False)["input_ids"]
    first_user = example.text.split("<start_of_turn>user\n")[1]
    assert first_user.startswith("Kamu asisten perjalanan.\n\n") and '"name": "book_ferry"' in first_user
    assert '<start_of_turn>user\n```tool_output\n{"booking": "BF-118"}\n```<end_of_turn>' in example.text
    learned = _masked_text(gemma3_tokenizer, example)
    assert learned.startswith("```tool_code\nbook_ferry(") and learned.endswith("Sudah dipesan: BF-118.<end_of_turn>")
    assert 'BF-118"}' not in learned and "Pesan feri" not in learned
    calls = parse_tool_calls(learned)
    assert [(c.name, c.arguments) for c in calls] == [("book_ferry", ARGS)]


def test_openai_style_string_arguments_are_parsed_and_bad_records_refused(gemma3_tokenizer):
    record = json.loads(json.dumps(TOOL_RECORD))
    record["messages"][2]["tool_calls"][0]["function"]["arguments"] = json.dumps(ARGS)
    assert format_sft(gemma3_tokenizer, record).text == format_sft(gemma3_tokenizer, TOOL_RECORD).text
    record["messages"][2]["tool_calls"][0]["function"]["name"] = "book_flight"
    with pytest.raises(RecordError, match=r"messages\[2\].tool_calls\[0\] calls 'book_flight'.*not declared"):
        format_sft(gemma3_tokenizer, record)
    orphan = {"tools": TOOLS, "messages": [TOOL_RECORD["messages"][1], TOOL_RECORD["messages"][3]]}
    with pytest.raises(RecordError, match=r"messages\[1\] is a tool result with no assistant tool_calls"):
        format_sft(gemma3_tokenizer, orphan)


def test_structured_output_request_and_validation(gemma3_tokenizer):
    example = format_sft(gemma3_tokenizer, JSON_RECORD)
    assert "conforms to this JSON schema:\n" + json.dumps(SCHEMA) in example.text
    learned = _masked_text(gemma3_tokenizer, example)
    assert json.loads(learned.removesuffix("<end_of_turn>")) == JSON_RECORD["messages"][1]["content"]
    bad = json.loads(json.dumps(JSON_RECORD))
    bad["messages"][1]["content"] = {"city": "Hanoi"}
    with pytest.raises(RecordError, match="breaks response_schema: 'population_millions' is a required property"):
        format_sft(gemma3_tokenizer, bad)


def test_rl_prompt_and_apo_pair_share_the_sft_rendering(gemma3_tokenizer):
    rl = format_rl_prompt(gemma3_tokenizer, TOOL_RECORD)
    full = format_sft(gemma3_tokenizer, TOOL_RECORD).text
    assert rl.prompt.endswith("<start_of_turn>model\n") and full.startswith(rl.prompt)
    assert rl.reference_content == "Sudah dipesan: BF-118."
    rejected = {"role": "assistant", "content": "Maaf, saya tidak bisa memesan."}
    pair = format_preference(
        gemma3_tokenizer,
        {
            "tools": TOOLS,
            "messages": TOOL_RECORD["messages"][:2],
            "chosen": TOOL_RECORD["messages"][2],
            "rejected": rejected,
        },
    )
    chosen, refused = _masked_text(gemma3_tokenizer, pair.chosen), _masked_text(gemma3_tokenizer, pair.rejected)
    assert chosen.startswith("```tool_code\nbook_ferry(") and refused == "Maaf, saya tidak bisa memesan.<end_of_turn>"
    assert parse_tool_calls(chosen)[0].arguments == ARGS and parse_tool_calls(refused) == []
    prompt_ids = gemma3_tokenizer(pair.prompt, add_special_tokens=False)["input_ids"]
    for side in (pair.chosen, pair.rejected):
        assert side.input_ids[: len(prompt_ids)] == prompt_ids and not any(side.loss_mask[: len(prompt_ids)])
    assert set(pair.row()) == {
        "prompt",
        "chosen_input_ids",
        "chosen_loss_mask",
        "rejected_input_ids",
        "rejected_loss_mask",
    }


def test_image_placeholder_renders_the_start_of_image_token(gemma3_tokenizer):
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Warna apa?"}]},
        {"role": "assistant", "content": "Merah."},
    ]
    example = render_with_mask(gemma3_tokenizer, messages)
    start = example.input_ids.index(255999)
    assert (
        example.input_ids[start - 3 : start]
        == gemma3_tokenizer("<start_of_turn>user\n", add_special_tokens=False)["input_ids"]
        and example.loss_mask[start] == 0
    )
    assert _masked_text(gemma3_tokenizer, example) == "Merah.<end_of_turn>"


def test_parser_refuses_code_that_is_not_a_literal_call():
    with pytest.raises(ToolCallParseError, match="not a literal"):
        parse_tool_calls("```tool_code\nbook_ferry(route=open('/etc/passwd').read())\n```")
    with pytest.raises(ToolCallParseError, match=r"must be name\(key=value"):
        parse_tool_calls("```tool_code\nbook_ferry('Batam', 2)\n```")
    # a ** expansion has no keyword name: before, it became an argument named None
    with pytest.raises(ToolCallParseError, match=r"must be name\(key=value"):
        parse_tool_calls('```tool_code\nbook_ferry(**{"route": "Batam"})\n```')
    with pytest.raises(ToolCallParseError, match="not a literal"):
        parse_tool_calls('```tool_code\nbook_ferry(route={**{"a": 1}})\n```')


def test_cli_formats_jsonl(tmp_path, gemma3_dir):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in (TOOL_RECORD, JSON_RECORD)) + "\n")
    out = tmp_path / "out.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "data_prep.tool_format", str(src), str(out), "--tokenizer", str(gemma3_dir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["written"] == 2
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [sum(r["loss_mask"]) > 0 for r in rows] == [True, True]


def test_plain_chats_render_and_mask_exactly_as_the_general_sft_formatter(gemma3_tokenizer):
    """Without tools or images: google's Gemma 3 IT text (the fixture's template) and sft_format's loss mask."""
    from data_prep.sft_format import tokenize_conversation

    messages = [
        {"role": "system", "content": "Jawab singkat."},
        {"role": "user", "content": "Ibu kota Laos? "},
        {"role": "assistant", "content": " Vientiane. "},
        {"role": "user", "content": "Dan Kamboja?"},
        {"role": "assistant", "content": "Phnom Penh."},
    ]
    ours = render_with_mask(gemma3_tokenizer, messages)
    assert ours.text == gemma3_tokenizer.apply_chat_template(messages, tokenize=False)
    general = tokenize_conversation(gemma3_tokenizer, messages)
    assert (ours.input_ids, ours.loss_mask) == (general.input_ids, general.loss_mask) and sum(ours.loss_mask) > 0
