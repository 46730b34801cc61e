"""A finished model's release variants (HF BF16, GGUF, quantised) outside a run, each checked against the BF16 export.

The release stage (`sealion release`) does the same inside a run, on its upstream stage's model
(recipes.artifacts.release_variants)."""

from __future__ import annotations

import argparse
import json
import sys

from recipes.artifacts.release_variants import VARIANTS, ReleaseSettings, run


def main(argv: list[str] | None = None, prog: str = "python -m recipes.variants") -> int:
    from rich.console import Console
    from rich.table import Table

    from recipes.artifacts.versions import Registry

    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="HF model directory or version id")
    parser.add_argument("out_dir")
    parser.add_argument("--variants", nargs="+", default=["hf_bf16", "gguf_q8_0"], choices=VARIANTS)
    parser.add_argument("--name", default="sealion")
    parser.add_argument("--quality-texts", nargs="*", default=[], help='held-out JSONL {"text", "lang"}')
    parser.add_argument(
        "--llama-cpp-dir",
        default="",
        help="llama.cpp checkout: convert_hf_to_gguf.py, build/bin/llama-quantize "
        "(default: the PyPI sdist's converter, llama-quantize from PATH)",
    )
    parser.add_argument(
        "--registry",
        default=None,
        help="registry directory (default: $SEALION_RUNS/registry, else <repo>/runs/registry)",
    )
    args = parser.parse_args(argv)
    settings = ReleaseSettings(
        variants=args.variants, name=args.name, quality_texts=args.quality_texts, llama_cpp_dir=args.llama_cpp_dir
    )
    try:
        results = run(settings, args.source, args.out_dir, Registry(args.registry))
    except KeyError as err:  # a source that is neither a directory nor a registered version
        print(f"error: source: {err.args[0]}; pass a model directory or a version id", file=sys.stderr)
        return 2
    table = Table("variant", "status", "version", "perplexity", "ratio vs bf16")
    for r in results:
        table.add_row(
            r.variant,
            r.status,
            r.version_id,
            json.dumps({k: round(v, 2) for k, v in r.perplexity.items()}),
            json.dumps({k: round(v, 3) for k, v in r.perplexity_ratio_vs_bf16.items()}),
        )
    Console().print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
