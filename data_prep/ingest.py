"""Read JSONL, Parquet and Hugging Face datasets record by record into Documents, quarantining bad records.

Why this shape:
  - Streaming everywhere (JSONL line by line, Parquet in row batches, datasets with `streaming=True`), so a
    corpus larger than memory never has to fit in it.
  - JSONL (plain, .gz or .zst) is read as bytes and each line decoded as strict UTF-8: one bad byte quarantines one line
    instead of aborting the file (text mode would raise mid-file) or silently replacing characters.
  - A bad record never stops the run: it becomes a `Quarantined` with its origin, so the counts add up.
"""

from __future__ import annotations

import dataclasses
import glob
import gzip
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from rich.progress import Progress

from data_prep.documents import Document, Quarantined
from recipes.core.languages import LANGUAGES, normalise_code

HF_PREFIX = "hf:"
JSONL_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".jsonl.zst", ".json.zst")
PARQUET_SUFFIXES = (".parquet",)


@dataclass
class IngestSettings:
    text_field: str = "text"
    lang_field: str = "lang"
    id_field: str = "id"
    source_field: str = "source"
    default_lang: str | None = None  # for inputs without a language field (many hub datasets)
    default_source: str | None = None  # else the record's source field, else the file stem / dataset name
    hf_split: str = "train"
    parquet_batch_rows: int = 1024
    raw_chars: int = 500  # how much of a quarantined record to keep


@dataclass(frozen=True)
class InputSource:
    kind: str  # "jsonl", "parquet" or "dataset"
    location: str  # file path, dataset directory or hub id
    # Declared by the data config for every record of this input (records' own fields win for lang when present).
    source: str | None = None
    lang: str | None = None

    def settings(self, base: IngestSettings) -> IngestSettings:
        """The ingest settings for this input: its declared source and language as the defaults."""
        return dataclasses.replace(
            base, default_source=self.source or base.default_source, default_lang=self.lang or base.default_lang
        )

    @property
    def name(self) -> str:
        return Path(self.location).stem if self.kind != "dataset" else Path(self.location).name


def resolve_inputs(specs: list[str | dict]) -> list[InputSource]:
    """Globs -> files by suffix; a directory or `hf:<hub id>` -> a Hugging Face dataset. A spec is a string, or a
    data config entry {path, source, lang} whose source and language apply to every record it matches."""
    sources: list[InputSource] = []
    for entry in specs:
        spec, declared = (
            (entry["path"], {"source": entry.get("source"), "lang": entry.get("lang")})
            if isinstance(entry, dict)
            else (entry, {})
        )
        if spec.startswith(HF_PREFIX):
            sources.append(InputSource("dataset", spec[len(HF_PREFIX) :], **declared))
            continue
        if os.path.isdir(spec):
            if not any(os.scandir(spec)):
                raise FileNotFoundError(
                    f"input {spec}: an empty directory; point it at JSONL or Parquet files (a "
                    "glob such as dir/*.jsonl), a saved Hugging Face dataset or hf:<hub id>"
                )
            sources.append(InputSource("dataset", spec, **declared))
            continue
        paths = sorted(glob.glob(spec))
        if not paths:
            raise FileNotFoundError(
                f"input {spec!r} matches no file; pass a path, a glob, a dataset directory or hf:<hub id>"
            )
        for path in paths:
            if path.endswith(JSONL_SUFFIXES):
                sources.append(InputSource("jsonl", path, **declared))
            elif path.endswith(PARQUET_SUFFIXES):
                sources.append(InputSource("parquet", path, **declared))
            else:
                raise ValueError(
                    f"input {path}: unsupported file type; expected {', '.join(JSONL_SUFFIXES)} or .parquet"
                )
    return sources


def read_sources(
    sources: list[InputSource], settings: IngestSettings, progress: Progress | None = None
) -> Iterator[Document | Quarantined]:
    """Every record of every source, in order; advances one progress task per source when given."""
    readers = {"jsonl": _read_jsonl, "parquet": _read_parquet, "dataset": _read_dataset}
    for source in sources:
        yield from readers[source.kind](source, source.settings(settings), progress)


def _open_binary(path: str) -> io.RawIOBase:
    """A JSONL file as bytes, decompressed on the fly for .gz and .zst (Dolma / OLMo 2 pools ship compressed).

    Unbuffered (the caller wraps it in one io.BufferedReader); the decompressors' readers serve as raw streams.
    """
    if path.endswith(".gz"):
        return cast(io.RawIOBase, gzip.open(path, "rb"))
    if path.endswith(".zst"):
        import zstandard

        return cast(io.RawIOBase, zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True))
    return open(path, "rb", buffering=0)


def _read_jsonl(source: InputSource, settings: IngestSettings, progress: Progress | None):
    compressed = source.location.endswith((".gz", ".zst"))  # progress in lines then: sizes are compressed sizes
    task = (
        progress.add_task(source.name, total=None if compressed else os.path.getsize(source.location))
        if progress
        else None
    )
    with _open_binary(source.location) as raw_file, io.BufferedReader(raw_file) as f:
        for line_number, line in enumerate(f, start=1):
            if progress and task is not None:
                progress.advance(task, 1 if compressed else len(line))
            if not line.strip():
                continue  # blank lines are layout, not records
            origin = f"{source.location}:{line_number}"
            raw = line.decode("utf-8", errors="replace")[: settings.raw_chars]
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as err:
                yield Quarantined(origin, "undecodable_bytes", f"not UTF-8 at byte {err.start}: {err.reason}", raw)
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as err:
                yield Quarantined(origin, "malformed_json", f"{err.msg} at column {err.colno}", raw)
                continue
            yield to_document(record, origin, raw, source.name, settings)


def _read_parquet(source: InputSource, settings: IngestSettings, progress: Progress | None):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(source.location)
    except (pa.ArrowInvalid, OSError) as err:
        raise ValueError(
            f"input {source.location}: not a readable Parquet file ({err}); replace it or remove it from data.sources"
        ) from None
    task = progress.add_task(source.name, total=parquet.metadata.num_rows) if progress else None
    row = 0
    for batch in parquet.iter_batches(batch_size=settings.parquet_batch_rows):
        for record in batch.to_pylist():
            row += 1
            yield to_document(record, f"{source.location}:{row}", _raw(record, settings), source.name, settings)
        if progress and task is not None:
            progress.advance(task, batch.num_rows)


def _read_dataset(source: InputSource, settings: IngestSettings, progress: Progress | None):
    from datasets import load_dataset

    dataset = load_dataset(source.location, split=settings.hf_split, streaming=True)
    task = progress.add_task(source.name, total=None) if progress else None
    for index, record in enumerate(dataset):
        if progress and task is not None:
            progress.advance(task)
        yield to_document(record, f"{source.location}:{index}", _raw(record, settings), source.name, settings)


def _raw(record: Any, settings: IngestSettings) -> str:
    return json.dumps(record, ensure_ascii=False, default=repr)[: settings.raw_chars]


def to_document(
    record: Any, origin: str, raw: str, source_name: str, settings: IngestSettings
) -> Document | Quarantined:
    """A parsed record -> Document, or Quarantined naming the field that is wrong."""
    if not isinstance(record, dict):
        return Quarantined(origin, "not_an_object", f"expected a JSON object, got {type(record).__name__}", raw)
    text = record.get(settings.text_field)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            return Quarantined(
                origin, "undecodable_bytes", f"field {settings.text_field!r} is not UTF-8 at byte {err.start}", raw
            )
    if text is None:
        return Quarantined(origin, "missing_text", f"no field {settings.text_field!r}", raw)
    if not isinstance(text, str):
        return Quarantined(
            origin,
            "text_not_string",
            f"field {settings.text_field!r} is a {type(text).__name__}, expected a string",
            raw,
        )
    if not text.strip():
        return Quarantined(origin, "empty_text", f"field {settings.text_field!r} is empty", raw)
    lang = normalise_code(record.get(settings.lang_field) or settings.default_lang)
    if lang not in LANGUAGES:
        return Quarantined(
            origin,
            "unknown_lang",
            f"field {settings.lang_field!r} is {lang!r}; expected one of {', '.join(LANGUAGES)} (or set default_lang)",
            raw,
        )
    doc_id = record.get(settings.id_field)
    source = settings.default_source or record.get(settings.source_field) or source_name
    return Document(
        id=str(doc_id) if doc_id not in (None, "") else origin, text=text, lang=lang, source=str(source), origin=origin
    )
