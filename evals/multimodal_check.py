"""Smoke check of a released Gemma 3 checkpoint: it still sees images and still calls tools.

Two probes, greedy decoding, through the checkpoint's own processor and chat template:
  - image: a generated solid red square with "What colour is the square?"; passes when the answer says "red".
  - tool call: one declared function (``get_weather(city)``) and a question that needs it; passes when the answer
    holds a ```tool_code``` block that parses to ``get_weather`` with a ``city`` argument naming the city asked.
Smoke level only: a pass says the vision path and the tool convention survived text-only training, not quality.

    python -m evals.multimodal_check MODEL_DIR [--out result.json] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from recipes.core.chat_template import ToolCallParseError, parse_tool_calls

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
        },
    },
}


@dataclass
class MultimodalCheckSettings:
    model_path: str = ""
    device: str = "cpu"
    dtype: str = "bfloat16"
    max_new_tokens: int = 48
    image_size: int = 224
    image_question: str = "What colour is the square? Answer with one word."
    expected_colour: str = "red"
    tool_question: str = "What is the weather in Jakarta right now?"
    expected_city: str = "Jakarta"


@dataclass
class ProbeResult:
    name: str
    passed: bool
    answer: str
    new_tokens: int
    detail: str = ""


@dataclass
class MultimodalCheckResult:
    model_path: str
    passed: bool
    probes: list[ProbeResult] = field(default_factory=list)


def red_square(size: int):
    from PIL import Image

    return Image.new("RGB", (size, size), (220, 20, 20))


def judge_tool_answer(answer: str, expected_city: str) -> tuple[bool, str]:
    """Did the answer call get_weather(city=<expected city>)? (passed, why)."""
    try:
        calls = parse_tool_calls(answer)
    except ToolCallParseError as err:
        return False, str(err)
    if not calls:
        return False, "no ```tool_code``` block in the answer"
    call = calls[0]
    if call.name != "get_weather":
        return False, f"called {call.name!r}, expected 'get_weather'"
    city = call.arguments.get("city")
    if not isinstance(city, str) or expected_city.lower() not in city.lower():
        return False, f"city argument is {city!r}, expected {expected_city!r}"
    return True, f"get_weather({call.arguments})"


def _generate(
    model, processor, messages: list[dict], settings: MultimodalCheckSettings, images=None, tools=None
) -> tuple[str, int]:
    import torch

    prompt = processor.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=True)
    inputs = processor(text=prompt, images=images, return_tensors="pt").to(settings.device)
    if "pixel_values" in inputs:
        inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=settings.max_new_tokens, do_sample=False)
    new = out[0, inputs["input_ids"].shape[1] :]
    return processor.decode(new, skip_special_tokens=True), len(new)


def run(settings: MultimodalCheckSettings, out_path: str | None = None) -> MultimodalCheckResult:
    import torch
    from transformers import AutoProcessor, Gemma3ForConditionalGeneration

    if not settings.model_path or not Path(settings.model_path).is_dir():
        raise FileNotFoundError(f"model_path {settings.model_path!r} is not a checkpoint directory: set model_path")
    processor = AutoProcessor.from_pretrained(settings.model_path)
    model = (
        Gemma3ForConditionalGeneration.from_pretrained(settings.model_path, dtype=getattr(torch, settings.dtype))
        .to(settings.device)
        .eval()
    )
    image_messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": settings.image_question}]}
    ]
    answer, n = _generate(model, processor, image_messages, settings, images=[red_square(settings.image_size)])
    colour_ok = settings.expected_colour.lower() in answer.lower()
    probes = [
        ProbeResult(
            "image",
            colour_ok,
            answer,
            n,
            f"answer {'names' if colour_ok else 'does not name'} {settings.expected_colour!r}",
        )
    ]
    answer, n = _generate(
        model, processor, [{"role": "user", "content": settings.tool_question}], settings, tools=[WEATHER_TOOL]
    )
    tool_ok, why = judge_tool_answer(answer, settings.expected_city)
    probes.append(ProbeResult("tool_call", tool_ok, answer, n, why))
    result = MultimodalCheckResult(settings.model_path, all(p.passed for p in probes), probes)
    if out_path:
        Path(out_path).write_text(json.dumps(asdict(result), indent=2, ensure_ascii=False) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.multimodal_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("model_path", help="Gemma3ForConditionalGeneration checkpoint directory")
    parser.add_argument("--out", help="write the result JSON here")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args(argv)
    settings = MultimodalCheckSettings(
        model_path=args.model_path, device=args.device, dtype=args.dtype, max_new_tokens=args.max_new_tokens
    )
    result = run(settings, args.out)
    for probe in result.probes:
        print(f"{probe.name}: {'PASS' if probe.passed else 'FAIL'} ({probe.detail}) answer={probe.answer!r}")
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
