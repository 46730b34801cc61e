"""Values that look like credentials, wherever they appear in a config: refused by preflight, redacted on write.

Key names alone (`HF_TOKEN`) miss `WANDB_KEY=<40 hex>` or `MY_HF_AUTH=hf_...`, so the values are checked too:
  - known token prefixes (Hugging Face `hf_`, GitHub `ghp_`/`github_pat_`, OpenAI-style `sk-`, Slack `xox?-`,
    GitLab `glpat-`, AWS `AKIA`, Google `AIza`, NVIDIA `nvapi-`), anywhere in a string (a URL, a shell line);
  - 32 or more hex digits in a row (W&B API keys are 40), unless named as a digest (`sha256:...`, or a key
    named `commit`, `revision`, `sha256`, `digest`: a git commit is 40 hex digits too);
  - a 32+ character URL-safe base64 word (between slashes: a path is not one word) with at least two each of
    upper case, lower case and digits that changes between those classes as often as random characters do
    (about 6 times in 10; names change once per word: `Gemma3ContinuedPretraining` 4 times in 26). Standard
    base64 with `/` is split at the slashes and may be missed.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

_PREFIXED = re.compile(r"(?<![A-Za-z0-9])(hf_[A-Za-z0-9]{30,}|gh[opusr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,}"
                       r"|sk-[A-Za-z0-9_-]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}|glpat-[A-Za-z0-9_-]{20,}"
                       r"|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}|nvapi-[A-Za-z0-9_-]{20,})")
_HEX = re.compile(r"(?<![0-9A-Za-z:])[0-9a-fA-F]{32,}(?![0-9A-Za-z])")
_BASE64 = re.compile(r"(?<![A-Za-z0-9+_-])[A-Za-z0-9+_-]{32,}={0,2}")
_DIGEST_KEY = re.compile(r"(commit|revision|sha\d*|digest|hash)$", re.IGNORECASE)
_OVERRIDE = re.compile(r"^[+~]*([\w.]+)=")  # a Hydra override, `eval.seahelm.commit=<hex>`: judged by its key
_CLASS_CHANGES = 0.4  # per character; random base64 ~0.6
REDACTED = "<redacted: looks like a secret>"


def _random_looking(word: str) -> bool:
    def cls(c: str) -> int:
        return 0 if c.isupper() else 1 if c.islower() else 2 if c.isdigit() else 3

    enough = all(sum(1 for c in word if cls(c) == k) >= 2 for k in (0, 1, 2))
    changes = sum(cls(a) != cls(b) for a, b in zip(word, word[1:]))
    return enough and changes / len(word) > _CLASS_CHANGES


def secrets_in(text: str, key: str = "") -> list[str]:
    """The substrings of `text` (the value of `key`) that look like credentials."""
    override = _OVERRIDE.match(text)
    key = override.group(1) if override else key
    found = [m.group(0) for m in _PREFIXED.finditer(text)]
    if not _DIGEST_KEY.search(key):
        found += [m.group(0) for m in _HEX.finditer(text)]
    found += [m.group(0) for m in _BASE64.finditer(text) if _random_looking(m.group(0))]
    return found


def kind_of(secret: str) -> str:
    if _PREFIXED.fullmatch(secret):
        return "a token with a known prefix"
    return f"{len(secret)} hex digits" if _HEX.fullmatch(secret) else f"a {len(secret)}-character random string"


def find(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, what it looks like) for every string in a nested config that holds a credential-like value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from find(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from find(item, f"{path}[{i}]")
    elif isinstance(value, str):
        found = secrets_in(value, path.rpartition(".")[2])
        if found:
            yield path, kind_of(found[0])


def redact(value: Any, key: str = "") -> Any:
    """`value` (nested dicts and lists of strings) with every credential-like substring replaced."""
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, key) for v in value]
    if isinstance(value, str):
        for secret in secrets_in(value, key):
            value = value.replace(secret, REDACTED)
    return value
