"""Version records for every artifact, a registry that finds them, their lineage, diffs and model cards.

An artifact is a directory holding its payload plus a `version.json` (a `VersionRecord`). The registry keeps
`index.json` (id -> artifact dir) so lookups need not scan the file system; the record in the artifact dir stays
the source of truth, so an artifact moved with its `version.json` can be re-registered.

Version ids are `<name>-<semver>` (e.g. `sealion-sft-1.2.0`): readable in logs and Slurm job names, stable
across machines, and unique because `register` refuses a (name, version) pair that already exists.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PAYLOAD_KINDS = ("hf", "megatron", "indexed_dataset", "jsonl", "eval", "gguf", "release")  # release: its variants are versions of their own
RECORD_FILE = "version.json"
INDEX_FILE = "index.json"
_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def default_registry_root() -> Path:
    """The registry the stages write: <launch.root>/registry."""
    from recipes.config import default_launch_root

    return default_launch_root() / "registry"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _semver_key(version: str) -> tuple[int, int, int]:
    match = _SEMVER.match(version)
    if not match:
        raise ValueError(f"version {version!r} is not semantic (MAJOR.MINOR.PATCH, e.g. 1.0.0)")
    return tuple(int(x) for x in match.groups())  # type: ignore[return-value]


@dataclass
class VersionRecord:
    """What `version.json` holds: identity, where the payload is, what it came from and how it scored."""

    id: str = ""
    name: str = ""
    version: str = "0.1.0"
    stage: str = ""
    created: str = ""
    artifact: str = ""
    payload_kind: str = "hf"
    parents: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    # suite -> {"scores": {metric: value}, "recorded": iso timestamp}
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VersionRecord:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"version.json has unknown fields {sorted(unknown)}; expected only {sorted(known)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def scores(self) -> dict[str, float]:
        """Flat `suite.metric -> value` view of all recorded numeric scores."""
        flat: dict[str, float] = {}
        for suite, entry in self.metrics.items():
            for metric, value in flatten(entry.get("scores", {})).items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    flat[f"{suite}.{metric}"] = float(value)
        return flat


def read_record(artifact_dir: str | os.PathLike) -> VersionRecord:
    path = Path(artifact_dir) / RECORD_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the artifact directory has no version record; register it first")
    return VersionRecord.from_dict(json.loads(path.read_text()))


def write_record(record: VersionRecord) -> None:
    path = Path(record.artifact) / RECORD_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record.to_dict(), indent=2, default=str) + "\n")
    tmp.replace(path)


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys for nested dicts (`a.b.c`); lists and scalars are leaves."""
    if not isinstance(data, dict):
        return {prefix: data} if prefix else {}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            flat.update(flatten(value, dotted))
        else:
            flat[dotted] = value
    return flat


@dataclass
class LineageNode:
    record: VersionRecord
    parents: list[LineageNode] = field(default_factory=list)

    def ids(self) -> list[str]:
        """Every id in the tree, depth first, this node first."""
        out = [self.record.id]
        for parent in self.parents:
            out.extend(parent.ids())
        return out


@dataclass
class VersionDiff:
    a: str
    b: str
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    added: dict[str, Any] = field(default_factory=dict)
    removed: dict[str, Any] = field(default_factory=dict)
    # suite.metric -> (score in a or None, score in b or None, b - a or None)
    scores: dict[str, tuple[float | None, float | None, float | None]] = field(default_factory=dict)


class Registry:
    """Index of version records under `root` (default `<launch.root>/registry`: $SEALION_RUNS, else <repo>/runs)."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_registry_root()
        self.root.mkdir(parents=True, exist_ok=True)
        self._index_path = self.root / INDEX_FILE

    def _index(self) -> dict[str, str]:
        if not self._index_path.is_file():
            return {}
        return json.loads(self._index_path.read_text())

    def _save_index(self, index: dict[str, str]) -> None:
        tmp = self._index_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
        tmp.replace(self._index_path)

    def versions_of(self, name: str) -> list[VersionRecord]:
        records = [r for r in self.all() if r.name == name]
        return sorted(records, key=lambda r: _semver_key(r.version))

    def next_version(self, name: str) -> str:
        existing = self.versions_of(name)
        if not existing:
            return "0.1.0"
        major, minor, _ = _semver_key(existing[-1].version)
        return f"{major}.{minor + 1}.0"

    def register(
        self,
        artifact: str | os.PathLike,
        *,
        name: str,
        stage: str,
        payload_kind: str,
        version: str | None = None,
        parents: list[str] | None = None,
        manifest: dict[str, Any] | None = None,
        notes: str = "",
    ) -> VersionRecord:
        """Write `version.json` into the artifact dir and index it; parents may be ids, name@version or paths."""
        artifact_dir = Path(artifact).resolve()
        if not artifact_dir.is_dir():
            raise FileNotFoundError(f"artifact={artifact_dir} is not a directory: write the payload before registering")
        if not _NAME.match(name):
            raise ValueError(f"name={name!r}: use letters, digits, '.', '_' or '-' (e.g. 'sealion-cpt')")
        if payload_kind not in PAYLOAD_KINDS:
            raise ValueError(f"payload_kind={payload_kind!r}: choose one of {', '.join(PAYLOAD_KINDS)}")
        version = version or self.next_version(name)
        _semver_key(version)
        record_id = f"{name}-{version}"
        index = self._index()
        if record_id in index:
            raise ValueError(f"version {record_id} is already registered at {index[record_id]}: bump version=")
        parent_ids = [self.get(p).id if not Path(p).is_dir() else read_record(p).id for p in (parents or [])]
        record = VersionRecord(
            id=record_id,
            name=name,
            version=version,
            stage=stage,
            created=_now(),
            artifact=str(artifact_dir),
            payload_kind=payload_kind,
            parents=parent_ids,
            manifest=manifest or {},
            notes=notes,
        )
        write_record(record)
        index[record_id] = str(artifact_dir)
        self._save_index(index)
        return record

    def all(self) -> list[VersionRecord]:
        return [read_record(path) for path in self._index().values()]

    def get(self, ref: str) -> VersionRecord:
        """Look up by id (`name-1.0.0`), `name@1.0.0`, or bare `name` (its highest version)."""
        index = self._index()
        if ref in index:
            return read_record(index[ref])
        if "@" in ref:
            name, version = ref.split("@", 1)
            record_id = f"{name}-{version}"
            if record_id in index:
                return read_record(index[record_id])
        else:
            versions = self.versions_of(ref)
            if versions:
                return versions[-1]
        known = ", ".join(sorted(index)) or "none registered yet"
        raise KeyError(f"no version {ref!r} in registry {self.root} (known: {known})")

    def resolve(self, ref: str | os.PathLike) -> Path:
        """Artifact path for a stage's `input=`: an existing directory is used as is, otherwise a version ref."""
        path = Path(ref)
        if path.is_dir():
            return path.resolve()
        return Path(self.get(str(ref)).artifact)

    def add_metrics(self, ref: str, suite: str, scores: dict[str, Any]) -> VersionRecord:
        """Record evaluation results for one suite (replacing an earlier run of the same suite), timestamped."""
        record = self.get(ref)
        record.metrics[suite] = {"scores": scores, "recorded": _now()}
        write_record(record)
        return record

    def lineage(self, ref: str) -> LineageNode:
        def walk(record: VersionRecord, seen: tuple[str, ...]) -> LineageNode:
            if record.id in seen:
                raise ValueError(f"lineage cycle through {record.id}: {' -> '.join(seen)}")
            return LineageNode(record, [walk(self.get(p), (*seen, record.id)) for p in record.parents])

        return walk(self.get(ref), ())

    def diff(self, ref_a: str, ref_b: str) -> VersionDiff:
        """Resolved-config differences (manifest `config`, dotted keys) and score deltas from a to b."""
        a, b = self.get(ref_a), self.get(ref_b)
        conf_a = flatten(a.manifest.get("config", {}))
        conf_b = flatten(b.manifest.get("config", {}))
        result = VersionDiff(a=a.id, b=b.id)
        for key in sorted(conf_a.keys() | conf_b.keys()):
            if key not in conf_b:
                result.removed[key] = conf_a[key]
            elif key not in conf_a:
                result.added[key] = conf_b[key]
            elif conf_a[key] != conf_b[key]:
                result.changed[key] = (conf_a[key], conf_b[key])
        scores_a, scores_b = a.scores(), b.scores()
        for key in sorted(scores_a.keys() | scores_b.keys()):
            sa, sb = scores_a.get(key), scores_b.get(key)
            result.scores[key] = (sa, sb, sb - sa if sa is not None and sb is not None else None)
        return result

    def model_card(self, ref: str) -> str:
        return model_card(self.get(ref), self)


_CONFIG_HIGHLIGHTS = (
    "model.name",
    "stage.name",
    "train.global_batch_size",
    "train.micro_batch_size",
    "train.train_iters",
    "optimizer.lr",
    "optimizer.min_lr",
    "dataset.seq_length",
    "dataset.blend",
    "parallelism.tensor_model_parallel_size",
    "parallelism.pipeline_model_parallel_size",
    "parallelism.context_parallel_size",
    "merge.method",
    "precision.name",
)


def model_card(record: VersionRecord, registry: Registry | None = None) -> str:
    """Markdown card in the SEA-LION card's shape: what it is, what it came from, how it scores, its limits."""
    manifest = record.manifest
    config = flatten(manifest.get("config", {}))
    lines = [f"# {record.name} {record.version}", ""]
    lines += [
        f"- **Version id:** `{record.id}`",
        f"- **Stage:** {record.stage or 'n/a'}",
        f"- **Created:** {record.created}",
        f"- **Payload:** {record.payload_kind} at `{record.artifact}`",
    ]
    git = manifest.get("git") or {}
    if git.get("commit"):
        lines.append(f"- **Code:** {git['commit']}{' (dirty tree)' if git.get('dirty') else ''}")
    if manifest.get("container_image"):
        lines.append(f"- **Container:** `{manifest['container_image']}`")
    if manifest.get("vision"):
        lines.append(f"- **Vision tower + projector:** untouched from the released base model, SHA-256 "
                     f"`{manifest['vision']['sha256']}` over {manifest['vision']['tensors']} tensors")
    lines += ["", "## Lineage", ""]
    if registry is not None and record.parents:
        lines += _lineage_markdown(registry.lineage(record.id), 0)
    elif record.parents:
        lines += [f"- `{p}`" for p in record.parents]
    else:
        lines.append("No parents (a root artifact).")
    lines += ["", "## Data blend", ""]
    blend = manifest.get("data_blend")
    if blend:
        lines.append(f"`{blend}` (sha256 `{manifest.get('data_blend_sha256') or 'unknown'}`)")
    else:
        lines.append("Not recorded.")
    highlights = [(k, config[k]) for k in _CONFIG_HIGHLIGHTS if k in config]
    lines += ["", "## Training configuration highlights", ""]
    if highlights:
        lines += ["| Key | Value |", "|---|---|"] + [f"| `{k}` | `{v}` |" for k, v in highlights]
    else:
        lines.append("No resolved configuration recorded.")
    lines += ["", "## Evaluation", ""]
    scores = record.scores()
    if scores:
        lines += ["| Suite | Metric | Score | Recorded |", "|---|---|---|---|"]
        for key, value in scores.items():
            suite, metric = key.split(".", 1)
            lines.append(f"| {suite} | {metric} | {value:.4g} | {record.metrics[suite].get('recorded', '')} |")
    else:
        lines.append("No evaluation results recorded yet.")
    lines += [
        "",
        "## Intended use and limitations",
        "",
        "A research model for Southeast Asian languages (SEA-LION style). It has not been aligned for safety",
        "beyond its post-training stages; outputs may be inaccurate, biased or harmful. Evaluate it on your own",
        "use case and add safeguards before deploying it. Scores above are from the suites named and do not",
        "cover every language or task.",
    ]
    if record.notes:
        lines += ["", "## Notes", "", record.notes]
    return "\n".join(lines) + "\n"


def _lineage_markdown(node: LineageNode, depth: int) -> list[str]:
    own = [f"{'  ' * depth}- `{node.record.id}` ({node.record.stage}, {node.record.payload_kind})"]
    for parent in node.parents:
        own += _lineage_markdown(parent, depth + 1)
    return own


def _rich_tree(node: LineageNode, tree: Any = None) -> Any:
    from rich.tree import Tree

    label = f"[bold]{node.record.id}[/bold] [dim]{node.record.stage} · {node.record.payload_kind}[/dim]"
    branch = Tree(label) if tree is None else tree.add(label)
    for parent in node.parents:
        _rich_tree(parent, branch)
    return branch


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console
    from rich.markdown import Markdown
    from rich.table import Table

    parser = argparse.ArgumentParser(
        prog="python -m recipes.versions",
        description="Browse model/data version records: list, show, lineage tree, config+score diff, model card.",
    )
    parser.add_argument("--root", default=None, help="registry directory (default: $SEALION_RUNS/registry, else <repo>/runs/registry, as the stages write)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="all registered versions")
    for name, text in (("show", "the full version.json"), ("tree", "lineage tree"), ("card", "model card (Markdown)")):
        p = sub.add_parser(name, help=text)
        p.add_argument("ref", help="version id (name-1.0.0), name@1.0.0 or name (latest)")
    p = sub.add_parser("diff", help="config keys changed/added/removed and score deltas from A to B")
    p.add_argument("a")
    p.add_argument("b")
    args = parser.parse_args(argv)
    registry = Registry(args.root)
    console = Console()
    try:
        if args.command == "list":
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
        console.print(f"[red]error:[/red] {err}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
