"""Values that look like credentials, wherever they appear in a config: refused by preflight, redacted on write.

Key names alone (`HF_TOKEN`) miss `WANDB_KEY=<40 hex>` or `MY_HF_AUTH=hf_...`, so the values are checked too:
  - known token prefixes (Hugging Face `hf_`, GitHub `ghp_`/`github_pat_`, OpenAI-style `sk-`, Slack `xox?-`,
    GitLab `glpat-`, AWS `AKIA`, Google `AIza`, NVIDIA `nvapi-`), anywhere in a string (a URL, a shell line);
  - 32 or more hex digits in a row (W&B API keys are 40), also inside a URL (`https://user:<hex>@host`), unless
    it is a digest: labelled one (`sha256:...`, `sha1-...`), the value of a key named `commit`, `revision`,
    `sha256`, `digest` or `hash` (a git commit is 40 hex digits too), or one part of a path or name, joined to
    it by `/`, `-`, `_` or `.` (a hub snapshot `.../snapshots/<commit>`, `run-<sha256>`, `<sha256>.jsonl`);
  - a 32+ character base64 word, standard (`+`, `/`) or URL-safe (`-`, `_`), not a path (a slashed word with a
    plain lowercase segment such as `runs` or `hf_import`), with at least two each of upper
    case, lower case and digits that changes between character classes as often as random characters do
    (about 6 times in 10; names and paths change once per word: `Gemma3ContinuedPretraining` 4 times in 26).

A value that looks like a credential but is not one (a digest this does not recognise) is declared in
`launch.not_secrets`, a list of the exact strings: every check and every redaction leaves them alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

_PREFIXED = re.compile(
    r"(?<![A-Za-z0-9])(hf_[A-Za-z0-9]{30,}|gh[opusr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,}"
    r"|sk-[A-Za-z0-9_-]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}|glpat-[A-Za-z0-9_-]{20,}"
    r"|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}|nvapi-[A-Za-z0-9_-]{20,})"
)
_HEX = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{32,}(?![0-9A-Za-z])")
_DIGEST_LABEL = re.compile(r"(sha\d*|md5|blake2[bs]?|xxh\d*)[:-]$", re.IGNORECASE)
_NAME_JOINERS = "/-_."  # a hex run joined by one of these to more of the word is part of a path or a name
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{32,}={0,2}")
_PATH_WORD = re.compile(r"[a-z]{3,}(?:[_-][a-z0-9]+)*")  # a plain path segment: runs, hf_import, sealion-recipes
_DIGEST_KEY = re.compile(r"(commit|revision|sha\d*|digest|hash)$", re.IGNORECASE)
_OVERRIDE = re.compile(r"^[+~]*([\w.]+)=")  # a Hydra override, `eval.seahelm.commit=<hex>`: judged by its key
_CLASS_CHANGES = 0.4  # per character; random base64 ~0.6
NOT_SECRETS_KEY = "not_secrets"  # launch.not_secrets: the exact strings declared not to be credentials
REDACTED = "<redacted: looks like a secret>"


def _random_looking(word: str) -> bool:
    def cls(c: str) -> int:
        return 0 if c.isupper() else 1 if c.islower() else 2 if c.isdigit() else 3

    enough = all(sum(1 for c in word if cls(c) == k) >= 2 for k in (0, 1, 2))
    changes = sum(cls(a) != cls(b) for a, b in zip(word, word[1:]))
    return enough and changes / len(word) > _CLASS_CHANGES


def _path(word: str) -> bool:
    """A slashed word with a plain lowercase segment is a path, not base64: a random temporary directory in it
    (`/tmp/tmpXy7Qa9Lk2P/runs/smoke/...`) must not make the whole path look random."""
    return "/" in word and any(_PATH_WORD.fullmatch(part) for part in word.split("/"))


def _part_of_name(text: str, start: int, end: int) -> bool:
    """A hex run joined by `/ - _ .` to more of a path or name (not one after `user:`, `key=` or a space)."""
    return (start > 0 and text[start - 1] in _NAME_JOINERS) or (end < len(text) - 1 and text[end] in _NAME_JOINERS)


def _hex_secrets(text: str) -> Iterator[str]:
    for m in _HEX.finditer(text):
        if _DIGEST_LABEL.search(text[: m.start()]) or _part_of_name(text, m.start(), m.end()):
            continue
        yield m.group(0)


def secrets_in(text: str, key: str = "", allowed: Iterable[str] = ()) -> list[str]:
    """The substrings of `text` (the value of `key`) that look like credentials, less those in `allowed`."""
    for value in allowed:
        text = text.replace(value, " ")
    override = _OVERRIDE.match(text)
    key = override.group(1) if override else key
    found = [m.group(0) for m in _PREFIXED.finditer(text)]
    if not _DIGEST_KEY.search(key):
        found += list(_hex_secrets(text))
    found += [m.group(0) for m in _BASE64.finditer(text) if _random_looking(m.group(0)) and not _path(m.group(0))]
    return found


def kind_of(secret: str) -> str:
    if _PREFIXED.fullmatch(secret):
        return "a token with a known prefix"
    return f"{len(secret)} hex digits" if _HEX.fullmatch(secret) else f"a {len(secret)}-character random string"


def declared_not_secrets(value: Any) -> list[str]:
    """Every string listed under a `not_secrets` key anywhere in `value` (launch.not_secrets in a config, the
    config inside a manifest)."""
    out: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == NOT_SECRETS_KEY and isinstance(item, (list, tuple)):
                out += [str(v) for v in item if str(v)]
            else:
                out += declared_not_secrets(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            out += declared_not_secrets(item)
    return out


def find(value: Any, path: str = "", allowed: Iterable[str] | None = None) -> Iterator[tuple[str, str]]:
    """(dotted key, what it looks like) for every string in a nested config that holds a credential-like value."""
    allowed = declared_not_secrets(value) if allowed is None else list(allowed)
    if isinstance(value, dict):
        for key, item in value.items():
            yield from find(item, f"{path}.{key}" if path else str(key), allowed)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from find(item, f"{path}[{i}]", allowed)
    elif isinstance(value, str):
        found = secrets_in(value, path.rpartition(".")[2], allowed)
        if found:
            yield path, kind_of(found[0])


def redact(value: Any, key: str = "", allowed: Iterable[str] | None = None) -> Any:
    """`value` (nested dicts and lists of strings) with every credential-like substring replaced."""
    allowed = declared_not_secrets(value) if allowed is None else list(allowed)
    if isinstance(value, dict):
        return {k: redact(v, str(k), allowed) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v, key, allowed) for v in value]
    if isinstance(value, str):
        for secret in secrets_in(value, key, allowed):
            value = value.replace(secret, REDACTED)
    return value
