"""Release variants of a finished model, each with a perplexity check against the BF16 export.

Variants (configurable, run in order):
- `hf_bf16`: Hugging Face BF16 safetensors + tokenizer + chat template + README.md model card. Always first: the
  others are made from it and compared with it.
- `fp8_dynamic`: llm-compressor FP8 weights with dynamic per-token activation scales. GPU side: runs where
  `llmcompressor` is importable and CUDA is present, otherwise the script is rendered for the cluster.
- `nvfp4`: NVIDIA ModelOpt NVFP4 post-training quantisation (GPU side, Blackwell): always rendered as a script.
- `gguf_q8_0`: llama.cpp's `convert_hf_to_gguf.py --outtype q8_0` (the converter quantises Q8_0 itself).
- `gguf_q4_k_m`: the converter to BF16 GGUF, then `llama-quantize ... Q4_K_M`; built where a `llama-quantize`
  binary is found (`llama_cpp_dir`/build/bin, then PATH), otherwise rendered as a script. No PyPI wheel that runs
  here ships the quantiser (llama-cpp-python compiles llama.cpp for about 15 minutes on 2 cores).
  The converter is in no wheel either: `fetch_gguf_converter` takes it (with its `gguf-py`) from the vendored
  llama.cpp of the llama-cpp-python sdist on PyPI, unless `llama_cpp_dir` names a llama.cpp checkout.

Each built variant is scored: per-language perplexity on held-out JSONL texts, the same HF token ids on both
sides, transformers for HF and llama.cpp itself (xllamacpp, prebuilt) for GGUF. llama.cpp's server API has no
prompt log-probs, so each next token is forced with a logit bias and its log-prob read from the unbiased
distribution (`post_sampling_probs: false`); the prompt cache makes that one token of work per step. A GGUF
variant also records llama.cpp's greedy continuation of `SAMPLE_PROMPT` (it loads and generates). Each variant is
registered as a version whose parent is the source model.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from recipes.core.schema import ReleaseSettings

VARIANTS = ("hf_bf16", "fp8_dynamic", "nvfp4", "gguf_q8_0", "gguf_q4_k_m")
GGUF_TYPES = {"gguf_q8_0": "Q8_0", "gguf_q4_k_m": "Q4_K_M"}
# The sdist whose vendored llama.cpp supplies convert_hf_to_gguf.py (same llama.cpp month as xllamacpp's runtime).
CONVERTER_SDIST = "llama-cpp-python==0.3.36"
SAMPLE_PROMPT = "Ibu kota Indonesia adalah"
CONVERTER_CACHE = Path.home() / ".cache" / "sealion-recipes"


@dataclass
class VariantResult:
    variant: str
    status: str  # built | rendered
    path: str
    command: list[str] = field(default_factory=list)
    perplexity: dict[str, float] = field(default_factory=dict)
    perplexity_ratio_vs_bf16: dict[str, float] = field(default_factory=dict)
    sample: str = ""  # GGUF: llama.cpp's greedy continuation of SAMPLE_PROMPT
    version_id: str = ""


# ---------------------------------------------------------------- quality check


def read_quality_texts(paths: list[str], max_docs_per_language: int) -> dict[str, list[str]]:
    from evals.perplexity import read_documents

    per_lang: dict[str, list[str]] = defaultdict(list)
    for doc in read_documents(paths):
        if len(per_lang[doc.lang]) < max_docs_per_language:
            per_lang[doc.lang].append(doc.text)
    return dict(per_lang)


def _perplexity(score_fn, tokenizer, texts: dict[str, list[str]], max_tokens: int) -> dict[str, float]:
    """Per-language perplexity; `score_fn(ids) -> (sum log p of ids[1:], count)`; <bos> is never predicted."""
    from rich.progress import track

    result = {}
    for lang, docs in texts.items():
        total, count = 0.0, 0
        for doc in track(docs, description=f"perplexity {lang}", transient=True):
            ids = tokenizer(doc)["input_ids"][:max_tokens]
            lp, n = score_fn(ids)
            total, count = total + lp, count + n
        result[lang] = math.exp(-total / count)
    return result


def hf_perplexity(model_dir: str | Path, texts: dict[str, list[str]], max_tokens: int) -> dict[str, float]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="auto").eval()

    @torch.no_grad()
    def score(ids: list[int]) -> tuple[float, int]:
        logits = model(input_ids=torch.tensor([ids])).logits[0, :-1].float()
        lp = torch.log_softmax(logits, -1).gather(1, torch.tensor(ids[1:])[:, None])
        return float(lp.sum()), len(ids) - 1

    return _perplexity(score, tokenizer, texts, max_tokens)


def llama_cpp_server(gguf_path: str | Path, n_ctx: int, threads: int):
    """llama.cpp's server engine in this process (xllamacpp): the runtime a GGUF release is used with."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(gguf_path)
    params.n_ctx = n_ctx
    params.cpuparams.n_threads = threads
    return xllamacpp.Server(params)


def _next_token(server, prompt_ids: list[int], **request) -> dict:
    """One decoding step on token ids; the chosen token with its unbiased log-prob."""
    reply = server.handle_completions(
        {
            "prompt": prompt_ids,
            "max_tokens": 1,
            "n_probs": 1,
            "temperature": 0.0,
            "post_sampling_probs": False,
            **request,
        }
    )
    if "choices" not in reply:
        raise RuntimeError(f"llama.cpp refused the request: {reply}")
    return reply["choices"][0]["logprobs"]["content"][0]


def gguf_greedy(server, prompt_ids: list[int], max_tokens: int) -> list[int]:
    """llama.cpp's greedy continuation of the prompt, as token ids."""
    ids = list(prompt_ids)
    for _ in range(max_tokens):
        ids.append(_next_token(server, ids)["id"])
    return ids[len(prompt_ids) :]


def gguf_perplexity(server, tokenizer, texts: dict[str, list[str]], max_tokens: int) -> dict[str, float]:
    """Perplexity of a GGUF file in llama.cpp, fed the HF tokenizer's ids so both sides score one stream: each
    next token is forced (logit bias) and its log-prob taken from the unbiased distribution."""

    def score(ids: list[int]) -> tuple[float, int]:
        total = 0.0
        for i in range(1, len(ids)):
            step = _next_token(server, ids[:i], logit_bias=[[ids[i], 1000.0]])
            if step["id"] != ids[i]:
                raise RuntimeError(f"llama.cpp did not take the forced token {ids[i]} (took {step['id']})")
            total += step["logprob"]
        return total, len(ids) - 1

    return _perplexity(score, tokenizer, texts, max_tokens)


# ---------------------------------------------------------------- variants


def export_hf_bf16(source: Path, out: Path, card: str) -> VariantResult:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.bfloat16)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(source).save_pretrained(out)
    for extra in ("chat_template.jinja", "generation_config.json"):
        if (source / extra).is_file():
            shutil.copy2(source / extra, out / extra)
    (out / "README.md").write_text(card)
    return VariantResult("hf_bf16", "built", str(out))


FP8_SCRIPT = """\
# FP8-Dynamic export with llm-compressor (run on a GPU node inside the training container).
from llmcompressor import oneshot
from llmcompressor.modifiers.quantization import QuantizationModifier
from transformers import AutoModelForCausalLM, AutoTokenizer

model = AutoModelForCausalLM.from_pretrained({source!r}, dtype="auto", device_map="auto")
tokenizer = AutoTokenizer.from_pretrained({source!r})
recipe = QuantizationModifier(targets="Linear", scheme="FP8_DYNAMIC", ignore={ignore!r})
oneshot(model=model, recipe=recipe)
model.save_pretrained({out!r}, save_compressed=True)
tokenizer.save_pretrained({out!r})
"""


def fp8_dynamic(source: Path, out: Path, settings: ReleaseSettings) -> VariantResult:
    """FP8 needs no calibration data (dynamic activation scales), so it runs as soon as llm-compressor is there."""
    import importlib.util

    import torch

    out.mkdir(parents=True, exist_ok=True)
    script = out / "quantize_fp8_dynamic.py"
    script.write_text(FP8_SCRIPT.format(source=str(source), out=str(out), ignore=settings.fp8_ignore))
    command = [sys.executable, str(script)]
    if importlib.util.find_spec("llmcompressor") is None or not torch.cuda.is_available():
        return VariantResult("fp8_dynamic", "rendered", str(out), command)
    subprocess.run(command, check=True)
    return VariantResult("fp8_dynamic", "built", str(out), command)


def nvfp4(source: Path, out: Path, settings: ReleaseSettings) -> VariantResult:
    """NVFP4 with ModelOpt's hf_ptq example (Blackwell GPUs); rendered for the cluster, never run here."""
    out.mkdir(parents=True, exist_ok=True)
    command = [
        "python",
        "examples/llm_ptq/hf_ptq.py",
        "--pyt_ckpt_path",
        str(source),
        "--qformat",
        "nvfp4",
        "--export_path",
        str(out),
        "--calib_size",
        str(settings.nvfp4_calib_size),
        "--trust_remote_code",
    ]
    (out / "quantize_nvfp4.sh").write_text(
        "#!/bin/bash\n# Run from a TensorRT-Model-Optimizer checkout inside a ModelOpt container on a GPU node.\n"
        "set -euo pipefail\n" + " ".join(command) + "\n"
    )
    return VariantResult("nvfp4", "rendered", str(out), command)


def fetch_gguf_converter(dest_root: Path = CONVERTER_CACHE) -> Path:
    """llama.cpp's converter (with its gguf-py) from the llama-cpp-python sdist on PyPI, cached."""
    dest = dest_root / f"llama.cpp-from-{CONVERTER_SDIST.replace('==', '-')}"
    if (dest / "convert_hf_to_gguf.py").is_file():
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                CONVERTER_SDIST,
                "--no-deps",
                "--no-binary",
                ":all:",
                "-d",
                tmp,
                "-q",
            ],
            check=True,
        )
        sdist = next(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        prefix = f"{sdist.name[: -len('.tar.gz')]}/vendor/llama.cpp/"
        wanted = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/")
        with tarfile.open(sdist) as tar:
            members = [
                m for m in tar.getmembers() if m.name.startswith(prefix) and m.name[len(prefix) :].startswith(wanted)
            ]
            for m in members:
                m.name = m.name[len(prefix) :]
            partial = dest.with_name(dest.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            tar.extractall(partial, members=members, filter="data")
            partial.rename(dest)
    return dest


def llama_cpp_checkout(settings: ReleaseSettings) -> Path | None:
    for candidate in (settings.llama_cpp_dir, os.environ.get("LLAMA_CPP_DIR", "")):
        if candidate:
            if not (Path(candidate) / "convert_hf_to_gguf.py").is_file():
                raise FileNotFoundError(
                    f"llama_cpp_dir={candidate} has no convert_hf_to_gguf.py: point it at a "
                    "llama.cpp checkout, or leave it empty to use the PyPI sdist copy"
                )
            return Path(candidate)
    return None


def find_llama_quantize(settings: ReleaseSettings) -> str | None:
    checkout = llama_cpp_checkout(settings)
    built = checkout / "build" / "bin" / "llama-quantize" if checkout else None
    return str(built) if built and built.is_file() else shutil.which("llama-quantize")


def _convert(converter: Path, source: Path, outtype: str, outfile: Path) -> list[str]:
    return [
        sys.executable,
        str(converter / "convert_hf_to_gguf.py"),
        str(source),
        "--outtype",
        outtype,
        "--outfile",
        str(outfile),
    ]


def _chained(steps: list[list[str]]) -> list[str]:
    return [word for step in steps for word in step + ["&&"]][:-1]


def gguf_variant(variant: str, bf16_dir: Path, out: Path, settings: ReleaseSettings) -> VariantResult:
    """Q8_0 straight from the converter; Q4_K_M through a BF16 GGUF and llama-quantize (rendered without one)."""
    label = GGUF_TYPES[variant]
    out.mkdir(parents=True, exist_ok=True)
    target, bf16_gguf = out / f"model-{label}.gguf", out / "model-bf16.gguf"
    quantizer = find_llama_quantize(settings)
    rendered = variant == "gguf_q4_k_m" and quantizer is None
    converter = llama_cpp_checkout(settings) or (Path("${LLAMA_CPP_DIR}") if rendered else fetch_gguf_converter())
    if variant == "gguf_q8_0":
        steps = [_convert(converter, bf16_dir, "q8_0", target)]
    else:
        steps = [
            _convert(converter, bf16_dir, "bf16", bf16_gguf),
            [quantizer or "llama-quantize", str(bf16_gguf), str(target), label],
        ]
    if rendered:
        steps.append(["rm", str(bf16_gguf)])
        (out / "quantize_q4_k_m.sh").write_text(
            "#!/bin/bash\n# Needs a llama.cpp checkout with llama-quantize built (LLAMA_CPP_DIR, PATH).\n"
            "set -euo pipefail\n" + "".join(" ".join(step) + "\n" for step in steps)
        )
        return VariantResult(variant, "rendered", str(out), _chained(steps))
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(
                f"{Path(step[1]).name if step[0] == sys.executable else step[0]} failed:\n{done.stderr[-3000:]}"
            )
    bf16_gguf.unlink(missing_ok=True)
    return VariantResult(variant, "built", str(out), _chained(steps))


def gguf_file(result: VariantResult) -> Path:
    return Path(result.path) / f"model-{GGUF_TYPES[result.variant]}.gguf"


def score_gguf(
    result: VariantResult,
    tokenizer_dir: Path,
    texts: dict[str, list[str]],
    settings: ReleaseSettings,
    sample_tokens: int = 8,
) -> None:
    """One llama.cpp load of a built GGUF: its greedy continuation of SAMPLE_PROMPT (it loads and generates) and,
    with held-out texts, its perplexity."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    prompt = tokenizer(SAMPLE_PROMPT)["input_ids"]
    n_ctx = max(settings.max_tokens_per_doc, len(prompt) + sample_tokens) + 8
    server = llama_cpp_server(gguf_file(result), n_ctx, settings.threads)
    result.sample = tokenizer.decode(gguf_greedy(server, prompt, sample_tokens))
    if texts:
        result.perplexity = gguf_perplexity(server, tokenizer, texts, settings.max_tokens_per_doc)


# ---------------------------------------------------------------- stage entry


def run(settings: ReleaseSettings, source: str, out_dir: str | Path, registry=None) -> list[VariantResult]:
    """Build every requested variant of `source` (HF dir or version id) under `out_dir`; register each one."""
    from recipes.artifacts.versions import RECORD_FILE, Registry, model_card, read_record

    unknown = [v for v in settings.variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"variants={unknown} unknown: choose from {', '.join(VARIANTS)}")
    registry = registry or Registry()
    source_dir = registry.resolve(source)
    source_record = read_record(source_dir) if (source_dir / RECORD_FILE).is_file() else None
    texts = read_quality_texts(settings.quality_texts, settings.max_docs_per_language) if settings.quality_texts else {}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    card = (
        model_card(source_record, registry)
        if source_record
        else f"# {settings.name}\n\nExported from `{source_dir}`.\n"
    )

    bf16_dir = out_dir / "hf_bf16"
    results = [export_hf_bf16(source_dir, bf16_dir, card)]
    for variant in settings.variants:
        target = out_dir / variant
        if variant == "fp8_dynamic":
            results.append(fp8_dynamic(bf16_dir, target, settings))
        elif variant == "nvfp4":
            results.append(nvfp4(bf16_dir, target, settings))
        elif variant in GGUF_TYPES:
            results.append(gguf_variant(variant, bf16_dir, target, settings))

    reference: dict[str, float] = {}
    for result in results:
        if result.status == "built" and result.variant in GGUF_TYPES:
            score_gguf(result, bf16_dir, texts, settings)
        elif result.status == "built" and texts:
            result.perplexity = hf_perplexity(result.path, texts, settings.max_tokens_per_doc)
        if result.perplexity:
            if result.variant == "hf_bf16":
                reference = result.perplexity
            result.perplexity_ratio_vs_bf16 = {k: v / reference[k] for k, v in result.perplexity.items()}
        kind = "gguf" if result.variant.startswith("gguf") else "hf"
        record = registry.register(
            result.path,
            name=f"{settings.name}-{result.variant.replace('_', '-')}",
            stage="release",
            payload_kind=kind,
            version=settings.version,
            parents=[source_record.id] if source_record else [],
            manifest={
                "variant": result.variant,
                "status": result.status,
                "command": result.command,
                "source": str(source_dir),
                "sample": result.sample,
            },
        )
        result.version_id = record.id
        if result.perplexity:
            registry.add_metrics(
                record.id,
                "release_perplexity",
                {"perplexity": result.perplexity, "ratio_vs_bf16": result.perplexity_ratio_vs_bf16},
            )
    (out_dir / "release.json").write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return results
