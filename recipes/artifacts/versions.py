"""Version records for every artifact, a registry that finds them, their lineage, diffs and model cards.

An artifact is a directory holding its payload plus a `version.json` (a `VersionRecord`). The registry keeps
`index.json` (id -> artifact dir) so lookups need not scan the file system; the record in the artifact dir stays
the source of truth, so an artifact moved with its `version.json` can be re-registered.

Version ids are `<name>-<semver>` (e.g. `sealion-sft-1.2.0`): readable in logs and Slurm job names, stable
across machines, and unique because `register` refuses a (name, version) pair that already exists elsewhere.

Registering is idempotent and atomic (under a lock on the registry): registering an artifact directory again (a
rerun or requeue of its stage) reuses its version when its content key (the manifest less who/when, the payload's
file names, small files' content less what the run reports about itself, large files' sizes) is unchanged, and
otherwise makes the next version and retires the one the directory held.
A record that cannot be read is skipped with a warning naming it, never fatal for the registry as a whole;
`python -m recipes.versions check|repair` finds and fixes such entries.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import typing
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recipes.core.atomic import write_text_atomic
from recipes.core.stage_specs import PAYLOAD_KINDS

RECORD_FILE = "version.json"
INDEX_FILE = "index.json"
LOCK_FILE = ".lock"
#: Manifest keys that say who registered and when, not what: left out of the content key.
_VOLATILE_MANIFEST_KEYS = ("created", "host", "user")
_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def run_registry(cfg) -> Registry:
    """The version registry of a run's launch root, where every stage registers its artifact."""
    return Registry(Path(cfg.launch.root) / "registry")


def default_registry_root() -> Path:
    """The registry the stages write: <launch.root>/registry."""
    from recipes.core.config import default_launch_root

    return default_launch_root() / "registry"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


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
    content_key: str = ""  # see `content_key`: equal keys mean a re-registration changed nothing

    @classmethod
    def from_dict(cls, data: Any, where: str = RECORD_FILE) -> VersionRecord:
        if not isinstance(data, dict):
            raise CorruptRecord(f"{where}: holds a JSON {type(data).__name__}, not a version record object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise CorruptRecord(f"{where}: unknown fields {sorted(unknown)}; expected only {sorted(known)}")
        hints = typing.get_type_hints(cls)
        for key, value in data.items():
            expected = typing.get_origin(hints[key]) or hints[key]
            if not isinstance(value, expected):
                raise CorruptRecord(
                    f"{where}: field {key!r} is {value!r} ({type(value).__name__}), expected a "
                    f"{expected.__name__}; restore the file or drop it with `python -m "
                    "recipes.artifacts.versions repair`"
                )
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


class CorruptRecord(ValueError):
    """A version.json that is not a readable version record; the message names the file."""


class RegistryWarning(UserWarning):
    """An index entry skipped because its record is missing or unreadable."""


def read_record(artifact_dir: str | os.PathLike) -> VersionRecord:
    path = Path(artifact_dir) / RECORD_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the artifact directory has no version record; register it first")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CorruptRecord(
            f"{path}: not valid JSON ({err}); restore it or drop it from the index with "
            "`python -m recipes.versions repair`"
        ) from None
    return VersionRecord.from_dict(data, str(path))


def _write_json(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=path.name == INDEX_FILE, default=str) + "\n")


def write_record(record: VersionRecord) -> None:
    _write_json(Path(record.artifact) / RECORD_FILE, record.to_dict())


#: Keys by which a stage's own JSON files report on the run that wrote them (how long it took, which launch, how
#: much an earlier attempt had done), not on the payload: left out of the content key, so that a rerun that
#: changed nothing keeps its version.
RUN_REPORT_KEYS = frozenset(
    {"seconds", "elapsed", "started", "updated", "created", "launch", "skipped", "shards_skipped", "host", "pid"}
)
#: Files up to this size are keyed by their content; larger ones (tensors, token shards) by their size.
CONTENT_HASHED_BYTES = 1 << 20


def _without_run_reports(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _without_run_reports(v) for k, v in data.items() if k not in RUN_REPORT_KEYS}
    if isinstance(data, list):
        return [_without_run_reports(v) for v in data]
    return data


def _file_identity(path: Path) -> str:
    """A large file's size; a small file's SHA-256, of its JSON less RUN_REPORT_KEYS when it is JSON."""
    size = path.stat().st_size
    if size > CONTENT_HASHED_BYTES:
        return f"size:{size}"
    raw = path.read_bytes()
    if path.suffix == ".json" or not path.suffix:
        with contextlib.suppress(ValueError):
            raw = json.dumps(_without_run_reports(json.loads(raw)), sort_keys=True).encode()
    return hashlib.sha256(raw).hexdigest()


def content_key(artifact_dir: Path, manifest: dict[str, Any], parents: list[str]) -> str:
    """SHA-256 over what the artifact was made from (the manifest less who and when, the parents) and what it
    holds (each payload file's relative path and `_file_identity`: sizes only for the large files, cheap for
    checkpoints of hundreds of GB; what a run says about itself is not part of it)."""
    files = sorted(
        (str(p.relative_to(artifact_dir)), _file_identity(p))
        for p in artifact_dir.rglob("*")
        if p.is_file() and p.name != RECORD_FILE
    )
    made_from = {k: v for k, v in manifest.items() if k not in _VOLATILE_MANIFEST_KEYS}
    blob = json.dumps({"manifest": made_from, "parents": parents, "files": files}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


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

    def __init__(self, root: str | os.PathLike | None = None, create: bool = True):
        self.root = Path(root) if root is not None else default_registry_root()
        if not create and not self.root.is_dir():
            raise FileNotFoundError(
                f"registry {self.root} does not exist: check --root (stages create "
                "<launch.root>/registry when they register their first artifact)"
            )
        if (
            not create
            and not (self.root / INDEX_FILE).is_file()
            and any(p.name != LOCK_FILE for p in self.root.iterdir())
        ):
            hint = (
                f"--root {self.root / 'registry'} (this is a launch root; its registry is registry/)"
                if (self.root / "registry").is_dir()
                else "--root <launch.root>/registry"
            )
            raise FileNotFoundError(
                f"{self.root} is not a version registry (it has no {INDEX_FILE} but other files): pass {hint}"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        self._index_path = self.root / INDEX_FILE

    def _index(self) -> dict[str, str]:
        if not self._index_path.is_file():
            return {}
        try:
            index = json.loads(self._index_path.read_text())
        except json.JSONDecodeError as err:
            raise CorruptRecord(
                f"{self._index_path}: not valid JSON ({err}); rebuild it with `python -m "
                f"recipes.versions --root {self.root} repair`"
            ) from None
        if not isinstance(index, dict):
            raise CorruptRecord(
                f"{self._index_path}: not an object of id -> artifact directory; rebuild it with "
                f"`python -m recipes.versions --root {self.root} repair`"
            )
        return index

    def _save_index(self, index: dict[str, str]) -> None:
        _write_json(self._index_path, index)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time (concurrent stages of one launch root register into one index); released by the
        kernel if the holder dies."""
        with open(self.root / LOCK_FILE, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _readable(self, index: dict[str, str]) -> Iterator[tuple[str, VersionRecord]]:
        """(id, record) of each index entry whose record reads back with that id; the others are warned about."""
        for record_id, path in index.items():
            try:
                record = read_record(path)
            except (FileNotFoundError, CorruptRecord) as err:
                warnings.warn(RegistryWarning(f"skipping {record_id}: {err}"), stacklevel=3)
                continue
            if record.id != record_id:
                warnings.warn(
                    RegistryWarning(
                        f"skipping {record_id}: {Path(path) / RECORD_FILE} now holds "
                        f"{record.id}; run `python -m recipes.versions repair`"
                    ),
                    stacklevel=3,
                )
                continue
            yield record_id, record

    def versions_of(self, name: str) -> list[VersionRecord]:
        records = [r for r in self.all() if r.name == name]
        return sorted(records, key=lambda r: _semver_key(r.version))

    def next_version(self, name: str, also: Sequence[str] = ()) -> str:
        """The next minor version above every registered one of `name` and those in `also`."""
        known = [r.version for r in self.versions_of(name)] + list(also)
        if not known:
            return "0.1.0"
        major, minor, _ = max(_semver_key(v) for v in known)
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
        """Write `version.json` into the artifact dir and index it; parents may be ids, name@version or paths.

        Registering a directory again returns its version unchanged when its content key is the same; otherwise
        it gets the next version (or `version`) and its earlier version leaves the index (its payload is gone)."""
        artifact_dir = Path(artifact).resolve()
        if not artifact_dir.is_dir():
            raise FileNotFoundError(f"artifact={artifact_dir} is not a directory: write the payload before registering")
        if not _NAME.match(name):
            raise ValueError(f"name={name!r}: use letters, digits, '.', '_' or '-' (e.g. 'sealion-cpt')")
        if payload_kind not in PAYLOAD_KINDS:
            raise ValueError(f"payload_kind={payload_kind!r}: choose one of {', '.join(PAYLOAD_KINDS)}")
        if version:
            _semver_key(version)
        with self._locked():
            return self._register(
                artifact_dir, name, stage, payload_kind, version, parents or [], manifest or {}, notes
            )

    def _register(
        self,
        artifact_dir: Path,
        name: str,
        stage: str,
        payload_kind: str,
        version: str | None,
        parents: list[str],
        manifest: dict[str, Any],
        notes: str,
    ) -> VersionRecord:
        parent_ids = [self.get(p).id if not Path(p).is_dir() else read_record(p).id for p in parents]
        key = content_key(artifact_dir, manifest, parent_ids)
        index = self._index()
        held = [i for i, path in index.items() if Path(path) == artifact_dir]
        existing = None
        with contextlib.suppress(FileNotFoundError, CorruptRecord):
            existing = read_record(artifact_dir)  # an earlier run's record: its payload was just replaced
        if (
            existing
            and existing.id in held
            and existing.name == name
            and existing.content_key == key
            and version in (None, existing.version)
        ):
            return existing  # a rerun that changed nothing
        if version is None:  # above the directory's earlier version too, indexed or not
            version = self.next_version(name, [existing.version] if existing and existing.name == name else [])
        record_id = f"{name}-{version}"
        if record_id in index:
            raise ValueError(f"version {record_id} is already registered at {index[record_id]}: bump version=")
        record = VersionRecord(
            id=record_id,
            name=name,
            version=version,
            stage=stage,
            created=_now(),
            artifact=str(artifact_dir),
            payload_kind=payload_kind,
            parents=parent_ids,
            manifest=manifest,
            notes=notes,
            content_key=key,
        )
        write_record(record)
        for retired in held:
            del index[retired]
        index[record_id] = str(artifact_dir)
        self._save_index(index)
        return record

    def all(self) -> list[VersionRecord]:
        """Every readable record; entries whose record is missing or corrupt are skipped with a warning."""
        return [record for _, record in self._readable(self._index())]

    def check(self) -> list[str]:
        """Problems with the index, one line each: entries whose record is missing, unreadable or holds another
        id, and records in the launch root's run directories that the index lacks."""
        index = self._index()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            list(self._readable(index))
        problems = [str(w.message) for w in caught]
        indexed = {Path(path) for path in index.values()}
        problems += [
            f"not indexed: {record.id} at {record.artifact}"
            for record in self._records_on_disk()
            if Path(record.artifact) not in indexed
        ]
        return problems

    def repair(self) -> list[str]:
        """Rebuild the index from the entries that read back and the records found on disk; what changed."""
        with self._locked(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                index = self._index()
            except CorruptRecord:
                index = {}  # rebuilt from the records on disk
            kept = {i: index[i] for i, _ in self._readable(index)}
            changes = [f"dropped {i} ({index[i]})" for i in index if i not in kept]
            for record in self._records_on_disk():
                if record.id not in kept and Path(record.artifact) not in {Path(p) for p in kept.values()}:
                    kept[record.id] = record.artifact
                    changes.append(f"added {record.id} ({record.artifact})")
            self._save_index(kept)
        return changes

    def _records_on_disk(self) -> Iterator[VersionRecord]:
        """Readable records of the run directories beside the registry (<launch.root>/<run>/<stage>/artifact) and
        of release variants below them."""
        for path in sorted(self.root.parent.glob(f"*/*/artifact/**/{RECORD_FILE}")):
            with contextlib.suppress(CorruptRecord, OSError):
                record = read_record(path.parent)
                if Path(record.artifact) == path.parent.resolve():
                    yield record

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
        with self._locked():
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
        lines.append(
            f"- **Vision tower + projector:** untouched from the released base model, SHA-256 "
            f"`{manifest['vision']['sha256']}` over {manifest['vision']['tensors']} tensors"
        )
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
