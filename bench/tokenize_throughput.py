"""Tokens per second per core: data_prep.tokenize vs Megatron-LM's tools/preprocess_data.py, same input and tokenizer.

Per-core throughput = tokens / CPU seconds of the whole process tree (getrusage of waited-for children), so it
does not depend on how busy the machine is. Each pipeline also runs once on a 20-document input; subtracting that
run's CPU time gives the steady-state figure (without interpreter, import and tokenizer start-up).

Megatron-LM: `--megatron-lm PATH` is a source tree (e.g. `git -C /work/.mirror/NVIDIA+Megatron-LM/repo archive
core_v0.16.1 megatron tools | tar -x -C PATH`); its preprocess_data.py is run by path with PATH on PYTHONPATH. If it
cannot run here (its megatron.training imports triton, absent on CPU machines), its approach is reproduced
faithfully instead (`--megatron-style`: megatron-core's HuggingFace tokenizer, per-document `tokenize` in a
multiprocessing Pool with imap chunk size 32, `IndexedDatasetBuilder.add_document` per document, <eod> appended)
and the results JSON says which one ran and why.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WORDS = {
    "en": "the river rose after three days of monsoon rain and the ferry stopped running while farmers moved cattle",
    "id": "sungai meluap setelah tiga hari hujan monsun dan kapal feri berhenti beroperasi sementara petani "
    "memindahkan",
    "vi": "con sông dâng cao sau ba ngày mưa gió mùa và phà ngừng chạy trong khi nông dân di chuyển gia súc",
    "th": "แม่น้ำ เอ่อล้น หลัง ฝน มรสุม ตก สาม วัน และ เรือ ข้ามฟาก หยุด ให้บริการ ชาวนา ย้าย วัว",
    "zh": "季风 雨 连下 三天 后 河水 上涨 渡轮 停止 运行 农民 转移 牲畜 村庄 道路 被 淹没",
    "ta": "மூன்று நாள் பருவமழைக்குப் பிறகு ஆறு பெருகியது படகு சேவை நின்றது விவசாயிகள் கால்நடைகளை",
}


def write_input(path: Path, n_docs: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n_docs):
            lang = rng.choice(sorted(WORDS))
            words = WORDS[lang].split()
            text = " ".join(
                rng.choice(words) + (str(rng.randint(0, 999)) if rng.random() < 0.1 else "")
                for _ in range(rng.randint(50, 600))
            )
            f.write(
                json.dumps({"id": str(i), "text": text, "lang": lang, "source": "bench"}, ensure_ascii=False) + "\n"
            )


def _timed(cmd: list[str], env: dict) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"rc": proc.returncode, "wall_s": wall, "cpu_s": cpu, "stderr_tail": proc.stderr[-1500:]}


def _count_tokens(idx_prefix: Path) -> int:
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    dataset = IndexedDataset(str(idx_prefix))  # keep it alive: its arrays are views of its mmap
    return int(dataset.sequence_lengths.sum())


# --- the reproduction of Megatron-LM tools/preprocess_data.py's approach -------------------------------------
_tok: dict[str, Any] = {}  # the worker's tokenizer, set by _mlm_init


def _mlm_init(tokenizer_dir: str) -> None:
    from megatron.core.tokenizers import MegatronTokenizer

    _tok["t"] = MegatronTokenizer.from_pretrained(
        tokenizer_path=tokenizer_dir, metadata_path={"library": "huggingface"}
    )


def _mlm_encode(line: str):
    ids = _tok["t"].tokenize(json.loads(line)["text"])
    if ids:
        ids.append(_tok["t"].eod)
    return ids, [len(ids)], len(line)


def megatron_style(input_path: str, output_prefix: str, tokenizer_dir: str, workers: int) -> None:
    from megatron.core.datasets.indexed_dataset import DType, IndexedDatasetBuilder

    _mlm_init(tokenizer_dir)
    builder = IndexedDatasetBuilder(f"{output_prefix}.bin", dtype=DType.optimal_dtype(_tok["t"].vocab_size))
    with open(input_path, encoding="utf-8") as fin, multiprocessing.Pool(workers, _mlm_init, (tokenizer_dir,)) as pool:
        for ids, lens, _ in pool.imap(_mlm_encode, fin, 32):
            builder.add_document(ids, lens)
    builder.finalize(f"{output_prefix}.idx")


# -------------------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megatron-lm", help="Megatron-LM source tree holding tools/preprocess_data.py")
    parser.add_argument("--tokenizer", help="tokenizer directory (default: the Gemma 3 fixture)")
    parser.add_argument("--docs", type=int, default=6000)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--output", default=str(REPO / "bench" / "results" / "tokenize_throughput.json"))
    parser.add_argument("--megatron-style", nargs=3, metavar=("INPUT", "PREFIX", "TOKENIZER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.megatron_style:
        input_path, prefix, tokenizer = args.megatron_style
        megatron_style(input_path, prefix, tokenizer, workers=args.workers)
        return 0
    if not args.tokenizer:
        from recipes.gemma3_fixture import build

        args.tokenizer = str(build())
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    tmp = Path(tempfile.mkdtemp(prefix="tokbench-"))
    results = {
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "tokenizer": args.tokenizer,
        "workers": args.workers,
        "docs": args.docs,
        "runs": {},
    }
    for size, n in (("tiny", 20), ("full", args.docs)):
        write_input(tmp / f"{size}.jsonl", n)
    results["input_bytes"] = (tmp / "full.jsonl").stat().st_size

    def ours(size):
        out = tmp / f"ours-{size}"
        r = _timed(
            [
                sys.executable,
                "-m",
                "data_prep.tokenize",
                str(tmp / f"{size}.jsonl"),
                "--output-dir",
                str(out),
                "--tokenizer",
                args.tokenizer,
                "--workers",
                str(args.workers),
                "--shard-bytes",
                str(2 << 20),
            ],
            env,
        )
        r["tokens"] = (
            sum(p["tokens"] for p in json.loads((out / "tokens.json").read_text())["prefixes"]) if r["rc"] == 0 else 0
        )
        return r

    def megatron(size):
        prefix = tmp / f"mlm-{size}"
        if args.megatron_lm and results.get("megatron_lm_mode") != "reproduced":
            r = _timed(
                [
                    sys.executable,
                    str(Path(args.megatron_lm) / "tools" / "preprocess_data.py"),
                    "--input",
                    str(tmp / f"{size}.jsonl"),
                    "--output-prefix",
                    str(prefix),
                    "--tokenizer-type",
                    "HuggingFaceTokenizer",
                    "--tokenizer-model",
                    args.tokenizer,
                    "--workers",
                    str(args.workers),
                    "--append-eod",
                ],
                {**env, "PYTHONPATH": args.megatron_lm},
            )
            if r["rc"] == 0:
                results["megatron_lm_mode"] = "preprocess_data.py"
                r["tokens"] = _count_tokens(Path(f"{prefix}_text_document"))
                return r
            results["megatron_lm_mode"] = "reproduced"
            results["megatron_lm_error"] = r["stderr_tail"].strip().splitlines()[-1]
        results.setdefault("megatron_lm_mode", "reproduced")
        r = _timed(
            [
                sys.executable,
                __file__,
                "--workers",
                str(args.workers),
                "--megatron-style",
                str(tmp / f"{size}.jsonl"),
                str(prefix),
                args.tokenizer,
            ],
            env,
        )
        r["tokens"] = _count_tokens(prefix) if r["rc"] == 0 else 0
        return r

    for name, fn in (("megatron_lm", megatron), ("data_prep", ours)):
        for size in ("tiny", "full"):
            r = fn(size)
            if r["rc"] != 0:
                raise SystemExit(f"{name} ({size}) failed:\n{r['stderr_tail']}")
            r.pop("stderr_tail")
            results["runs"][f"{name}/{size}"] = r
    for name in ("megatron_lm", "data_prep"):
        full, tiny = results["runs"][f"{name}/full"], results["runs"][f"{name}/tiny"]
        results[name] = {
            "tokens": full["tokens"],
            "wall_s": full["wall_s"],
            "cpu_s": full["cpu_s"],
            "tokens_per_s_per_core": full["tokens"] / full["cpu_s"],
            "steady_tokens_per_s_per_core": (full["tokens"] - tiny["tokens"]) / (full["cpu_s"] - tiny["cpu_s"]),
        }
    if results["data_prep"]["tokens"] != results["megatron_lm"]["tokens"]:
        raise SystemExit(f"token counts differ: {results['data_prep']['tokens']} vs {results['megatron_lm']['tokens']}")
    for key in ("tokens_per_s_per_core", "steady_tokens_per_s_per_core"):
        results[f"speedup_{key}"] = results["data_prep"][key] / results["megatron_lm"][key]
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2))
    print(json.dumps({k: v for k, v in results.items() if k != "runs"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
