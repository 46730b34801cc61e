"""List, show and diff version records (lineage tree, model card); check the index and repair it
(recipes.artifacts.versions)."""

from __future__ import annotations

import argparse
import json
import warnings
from typing import Any

from recipes.artifacts.versions import LineageNode, Registry


def _rich_tree(node: LineageNode, tree: Any = None) -> Any:
    from rich.tree import Tree

    label = f"[bold]{node.record.id}[/bold] [dim]{node.record.stage} · {node.record.payload_kind}[/dim]"
    branch = Tree(label) if tree is None else tree.add(label)
    for parent in node.parents:
        _rich_tree(parent, branch)
    return branch


def main(argv: list[str] | None = None, prog: str = "python -m recipes.versions") -> int:
    from rich.console import Console
    from rich.markdown import Markdown
    from rich.table import Table

    parser = argparse.ArgumentParser(
        prog=prog,
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument(
        "--root",
        default=None,
        help="registry directory (default: $SEALION_RUNS/registry, else <repo>/runs/registry, as the stages write)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="all registered versions")
    sub.add_parser("check", help="index entries whose record is missing or corrupt, records not indexed (exit 1)")
    sub.add_parser("repair", help="drop the entries `check` finds and index the records found on disk")
    for name, text in (("show", "the full version.json"), ("tree", "lineage tree"), ("card", "model card (Markdown)")):
        p = sub.add_parser(name, help=text)
        p.add_argument("ref", help="version id (name-1.0.0), name@1.0.0 or name (latest)")
    p = sub.add_parser("diff", help="config keys changed/added/removed and score deltas from A to B")
    p.add_argument("a")
    p.add_argument("b")
    args = parser.parse_args(argv)
    console = Console()
    warnings.showwarning = lambda message, *_: console.print(
        f"warning: {message}", markup=False, highlight=False, soft_wrap=True
    )
    try:
        registry = Registry(args.root, create=False)
        if args.command == "check":
            problems = registry.check()
            for line in problems:
                console.print(line, markup=False, highlight=False, soft_wrap=True)
            console.print(f"{len(problems)} problem(s) in {registry.root}", markup=False, highlight=False)
            return 1 if problems else 0
        if args.command == "repair":
            for line in registry.repair() or ["nothing to repair"]:
                console.print(line, markup=False, highlight=False, soft_wrap=True)
        elif args.command == "list":
            table = Table("id", "stage", "kind", "created", "parents", "scores", title=str(registry.root))
            for r in sorted(registry.all(), key=lambda r: r.created):
                table.add_row(r.id, r.stage, r.payload_kind, r.created, ", ".join(r.parents), str(len(r.scores())))
            console.print(table)
        elif args.command == "show":
            console.print_json(json.dumps(registry.get(args.ref).to_dict(), default=str))
        elif args.command == "tree":
            console.print(_rich_tree(registry.lineage(args.ref)))
        elif args.command == "card":
            console.print(Markdown(registry.model_card(args.ref)))
        elif args.command == "diff":
            d = registry.diff(args.a, args.b)
            table = Table("key", "change", d.a, d.b, title="config")
            for k, (va, vb) in d.changed.items():
                table.add_row(k, "changed", str(va), str(vb))
            for k, v in d.added.items():
                table.add_row(k, "added", "", str(v))
            for k, v in d.removed.items():
                table.add_row(k, "removed", str(v), "")
            console.print(table)
            scores = Table("metric", d.a, d.b, "delta", title="scores")
            for k, (sa, sb, delta) in d.scores.items():
                fmt = lambda x: "" if x is None else f"{x:.4g}"  # noqa: E731
                scores.add_row(k, fmt(sa), fmt(sb), fmt(delta))
            console.print(scores)
    except (KeyError, ValueError, FileNotFoundError) as err:
        console.print(
            f"error: {err.args[0] if isinstance(err, KeyError) else err}", markup=False, highlight=False, soft_wrap=True
        )
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
