"""Split, reassemble and verify Gemma 3's vision tower around text-only training (recipes.artifacts.multimodal).

sealion multimodal split SRC OUT
sealion multimodal reassemble TEXT_DIR VISION_DIR OUT [--identity vision_identity.json]
sealion multimodal verify OUT --identity vision_identity.json
"""

from __future__ import annotations

import argparse
import json
import sys

from recipes.artifacts.multimodal import MultimodalSettings, VisionMismatchError, run, split, verify


def main(argv: list[str] | None = None, prog: str = "python -m recipes.multimodal") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("split", help="multimodal checkpoint -> text/ + vision/ + vision_identity.json")
    p.add_argument("src"), p.add_argument("out")
    p.add_argument("--max-shard-gib", type=float, default=5.0)
    p = sub.add_parser("reassemble", help="trained text checkpoint + vision source -> multimodal checkpoint")
    p.add_argument("text_dir"), p.add_argument("vision_dir"), p.add_argument("out")
    p.add_argument("--identity", help="recorded vision_identity.json to enforce")
    p.add_argument("--max-shard-gib", type=float, default=5.0)
    p = sub.add_parser("verify", help="check a checkpoint's vision tower against a recorded identity")
    p.add_argument("ckpt"), p.add_argument("--identity", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "split":
            identity = split(args.src, args.out, args.max_shard_gib)
            print(f"vision sha256 {identity['sha256']} ({len(identity['tensors'])} tensors) -> {args.out}")
        elif args.command == "reassemble":
            settings = MultimodalSettings(max_shard_gib=args.max_shard_gib, identity_path=args.identity)
            print(json.dumps(run(settings, args.text_dir, args.vision_dir, args.out), indent=2))
        else:
            print(f"vision tower matches: sha256 {verify(args.ckpt, args.identity).sha256}")
    except (VisionMismatchError, FileNotFoundError, FileExistsError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
