"""Resolve each image's Python environment for its Python and platform against its base image's packages, and commit
the result as the image's lock (containers/locks/<image>.txt), which its Dockerfile installs with --no-deps.

    python containers/lock_images.py            # write the locks (after changing pyproject.toml or versions.env)
    python containers/lock_images.py --check    # CI: re-resolve; fail on a conflict or a stale committed lock
    python containers/lock_images.py --bases    # also rewrite the base constraint files from their sources

uv's resolver reads wheel metadata for the target (`--python-version`, `--python-platform`) without installing
anything, so this machine's Python and platform do not matter. Every resolution is cut at LOCKS_RESOLVED_AT
(versions.env): the same inputs give the same lock until a pin or the date moves. A lock holds only what the image
adds: the packages its base already has (containers/locks/<image>.base.txt, each file says where it comes from) are
constraints of the resolution and are left out of the lock, so installing it never replaces the base's torch or vLLM.
"""

from __future__ import annotations

import argparse
import difflib
import re
import subprocess
import sys
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LOCKS = HERE / "locks"
ENGINES = REPO.parent / "shared" / "engines"  # NeMo-RL's source archive (tests/ and this script read it)


def versions() -> dict[str, str]:
    lines = (HERE / "versions.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if re.match(r"^[A-Z][A-Z0-9_]*=", line))


@dataclass(frozen=True)
class Image:
    name: str
    python: str  # the image's Python (major.minor)
    platform: str  # uv's --python-platform: the image's architecture and glibc
    extras: tuple[str, ...] | None  # of this repository, resolved from pyproject.toml (None: not the repository)
    requirements: tuple[str, ...] = ()  # what the Dockerfile adds besides the repository (from versions.env)
    base: str = ""  # containers/locks/<base>.base.txt (default: the image's name)
    # Resolved from PyPI here but installed from an index this machine cannot reach (the Dockerfile installs them
    # by exact version, --no-deps): left out of the lock with what only they require.
    elsewhere: tuple[str, ...] = ()


def images() -> dict[str, Image]:
    v = versions()
    return {
        image.name: image
        for image in (
            # python:3.11-slim-bookworm: glibc 2.36; no base packages. torch comes from PyTorch's CPU index.
            Image("cpu", "3.11", "x86_64-manylinux_2_36", ("cpu",), elsewhere=("torch",)),
            # The NeMo framework image (Ubuntu 24.04, Python 3.12) with Megatron-Bridge at the version the tests use.
            Image(
                "train",
                "3.12",
                "x86_64-manylinux_2_39",
                ("data", "eval"),
                (f"megatron-bridge=={v['MEGATRON_BRIDGE_VERSION']}",),
            ),
            # NeMo-RL's driver venv (Python 3.12); the job side only, never the launcher's pins.
            Image("rl", "3.12", "x86_64-manylinux_2_35", ("eval",)),
            # vLLM's server image (Ubuntu 22.04, Python 3.12): the job side, and lm-eval's vLLM backend on the image's
            # vLLM in a venv of its own (/opt/lm-eval, seeing the image's packages): its [math] extra pins
            # antlr4-python3-runtime 4.11, hydra-core 1.3.2 (the stage runner's config) 4.9.
            Image("eval", "3.12", "x86_64-manylinux_2_35", ("eval",)),
            Image(
                "eval-lm-eval",
                "3.12",
                "x86_64-manylinux_2_35",
                None,
                (f"lm-eval[vllm,ifeval,math]=={v['LM_EVAL_VERSION']}",),
                base="eval",
            ),
        )
    }


def uv(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["uv", *args], capture_output=True, text=True, cwd=REPO)  # paths in locks: relative


def pins(text: str) -> dict[str, str]:
    """name -> the requirement line, for the `name==version` lines of a requirements file (markers kept)."""
    out = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==", line)
        if match:
            out[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = line.strip()
    return out


def compile_(image: Image, constraints: Path | None, out: Path, cached: bool = True) -> None:
    """uv pip compile of the image's requirements; raises with uv's explanation when they do not resolve."""
    v = versions()
    with tempfile.TemporaryDirectory() as tmp:
        reqs = Path(tmp) / "requirements.in"
        reqs.write_text("".join(f"{r}\n" for r in image.requirements))
        project = [str(REPO / "pyproject.toml")] if image.extras is not None else []
        args = [
            "pip",
            "compile",
            *project,
            str(reqs),
            "--python-version",
            image.python,
            "--python-platform",
            image.platform,
            "--exclude-newer",
            v["LOCKS_RESOLVED_AT"],
            "--no-header",
            "--quiet",
            "-o",
            str(out),
        ]
        args += [a for extra in image.extras or () for a in ("--extra", extra)]
        if constraints is not None:
            args += ["-c", str(constraints)]
        # The cut-off date makes newer index pages irrelevant: try uv's cache alone first (seconds), then the network.
        result = uv(*args, "--offline") if cached else None
        if result is None or result.returncode != 0:
            result = uv(*args)
        if out.is_file():  # name the requirements by their origin, not by this run's temporary file
            out.write_text(out.read_text().replace(str(reqs), "versions.env"))
    if result.returncode != 0:
        raise SystemExit(
            f"lock_images.py: the {image.name} image's environment does not resolve against its base "
            f"({constraints.name if constraints else 'no base'}):\n{result.stderr}"
        )


def lock_text(image: Image, cached: bool = True) -> str:
    """The image's lock: everything the resolution adds to the base, with uv's `# via` annotations."""
    base = LOCKS / f"{image.base or image.name}.base.txt"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "resolved.txt"
        compile_(image, base if base.is_file() else None, out, cached)
        resolved = out.read_text()
    left_out = set(pins(base.read_text())) if base.is_file() else set()
    left_out |= set(image.elsewhere)
    # What only the packages installed elsewhere require (PyPI torch's CUDA runtime), to a fixed point.
    blocks = {next(iter(pins(b)), ""): b for b in re.split(r"\n(?=[A-Za-z0-9])", resolved.strip())}
    via = {
        name: set(re.findall(r"^\s*#\s+(?:via\s+)?([A-Za-z0-9][A-Za-z0-9._-]*)\s*$", b, flags=re.M)) - {"via"}
        for name, b in blocks.items()
    }
    elsewhere = set(image.elsewhere)
    while more := {n for n, v in via.items() if n not in elsewhere and v and v <= elsewhere}:
        elsewhere |= more
    kept = [b for name, b in blocks.items() if name and name not in left_out | elsewhere]
    v = versions()
    header = [
        f"# The {image.name} image's lock: written by containers/lock_images.py (do not edit; rerun it).",
        f"# Python {image.python}, {image.platform}, PyPI as of {v['LOCKS_RESOLVED_AT']}; the base's packages "
        f"({base.name if base.is_file() else 'none'}) were constraints and are not repeated here.",
    ]
    if image.elsewhere:
        header.append(
            f"# Not here, installed by exact version from their own index in the Dockerfile: "
            f"{', '.join(image.elsewhere)} (and what only they require on PyPI)."
        )
    return "\n".join(header) + "\n" + "\n".join(kept) + "\n"


def rl_base() -> str:
    """NeMo-RL v0.5.0's uv.lock, exported as the driver venv's requirements (default groups, no extras)."""
    archive = ENGINES / f"nemo-rl-{versions()['NEMO_RL_REF']}.tar.gz"
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        project = next(Path(tmp).glob("*/uv.lock")).parent
        result = uv(
            "export",
            "--frozen",
            "--no-hashes",
            "--no-emit-project",
            "--no-emit-workspace",
            "--no-header",
            "--no-annotate",
            "--format",
            "requirements-txt",
            "--directory",
            str(project),
        )
    if result.returncode != 0:
        raise SystemExit(f"lock_images.py: exporting NeMo-RL's uv.lock failed:\n{result.stderr}")
    return (
        f"# NeMo-RL {versions()['NEMO_RL_REF']}'s uv.lock (github.com/NVIDIA-NeMo/RL at the tag; "
        f"../shared/engines/{archive.name}), exported by `uv export --frozen --no-emit-project` (default groups\n"
        "# dev and build, no extras): the driver venv /opt/nemo_rl_venv of the release image.\n" + result.stdout
    )


def stand_in_base(image: Image, requirement: str, source: str) -> str:
    """A base the machine here cannot read (no registry access): the resolution of the package the image is built
    around, as PyPI had it at LOCKS_RESOLVED_AT. The Dockerfile reports where the real image differs."""
    with tempfile.TemporaryDirectory() as tmp:
        reqs, out = Path(tmp) / "base.in", Path(tmp) / "base.txt"
        reqs.write_text(requirement + "\n")
        result = uv(
            "pip",
            "compile",
            str(reqs),
            "--python-version",
            image.python,
            "--python-platform",
            image.platform,
            "--exclude-newer",
            versions()["LOCKS_RESOLVED_AT"],
            "--no-header",
            "--no-annotate",
            "--quiet",
            "-o",
            str(out),
        )
        if result.returncode != 0:
            raise SystemExit(f"lock_images.py: {requirement} does not resolve:\n{result.stderr}")
        return source + out.read_text()


def base_texts() -> dict[str, str]:
    v, all_ = versions(), images()
    return {
        "rl": rl_base(),
        "eval": stand_in_base(
            all_["eval"],
            "vllm==0.23.0\ntransformers==5.12.0",
            (
                f"# Stand-in for {v['VLLM_IMAGE']}'s packages: vLLM 0.23.0's requirements as PyPI "
                "resolved them for Python\n"
                "# 3.12, with transformers 5.12.0 (SEA-HELM's pin beside the same vLLM; vLLM allows 4.56+ "
                "and 5.5.1+), as\n"
                "# no registry access here lets the image be read. The build prints where the image differs\n"
                "# (containers/check_image.py); replace this file with the image's `pip freeze` when one is at hand.\n"
            ),
        ),
        "train": stand_in_base(
            all_["train"],
            f"megatron-bridge=={v['MEGATRON_BRIDGE_VERSION']}",
            (
                f"# Stand-in for {v['NEMO_IMAGE']}'s packages (torch, Transformer Engine, megatron-core, "
                "transformers and\n"
                "# what they need), which cannot be read here (no access to nvcr.io): Megatron-Bridge's "
                "requirements as\n"
                "# PyPI resolved them for Python 3.12. The build prints where the image differs "
                "(containers/check_image.py)\n"
                "# and fails on any conflict; replace this file with the image's `pip freeze` when one is at hand\n"
                "# (`docker run --rm --entrypoint pip $NEMO_IMAGE freeze --exclude-editable`), NVIDIA's own "
                "builds (torch\n"
                "# 2.x.0a0+<commit>, Transformer Engine) written as the PyPI release they stand for, which "
                "uv can resolve.\n"
            ),
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="re-resolve and compare; write nothing")
    parser.add_argument("--bases", action="store_true", help="also rewrite the base constraint files")
    parser.add_argument("images", nargs="*", help="default: all")
    args = parser.parse_args(argv)
    if uv("--version").stdout.split()[1:2] != [versions()["UV_VERSION"]]:
        raise SystemExit(
            f"lock_images.py: needs uv {versions()['UV_VERSION']} (versions.env) on PATH "
            f"(tests/image_locks.sh installs it)"
        )
    LOCKS.mkdir(exist_ok=True)
    if args.bases:
        for name, text in base_texts().items():
            (LOCKS / f"{name}.base.txt").write_text(text)
    stale, names = [], args.images or list(images())
    # NeMo-RL's lock is the one base recorded from its source: hold the committed export to it where it is at hand.
    if args.check and "rl" in names and (ENGINES / f"nemo-rl-{versions()['NEMO_RL_REF']}.tar.gz").is_file():
        if rl_base() != (LOCKS / "rl.base.txt").read_text():
            stale.append("rl.base")
            print("lock_images.py: rl.base.txt is not NeMo-RL's uv.lock export: run with --bases", file=sys.stderr)
    with ThreadPoolExecutor() as pool:  # uv waits on the network, not the CPU: resolve the images side by side
        texts = dict(zip(names, pool.map(lambda name: lock_text(images()[name]), names)))
        # A cache older than the cut-off may lack a release: what differs from the lock is resolved again online.
        differ = [
            n for n in names if not (LOCKS / f"{n}.txt").is_file() or texts[n] != (LOCKS / f"{n}.txt").read_text()
        ]
        texts |= dict(zip(differ, pool.map(lambda name: lock_text(images()[name], cached=False), differ)))
    for name in names:
        text, path = texts[name], LOCKS / f"{name}.txt"
        committed = path.read_text() if path.is_file() else ""
        if args.check and text != committed:
            stale.append(name)
            sys.stderr.writelines(
                difflib.unified_diff(
                    committed.splitlines(True),
                    text.splitlines(True),
                    f"committed {path.name}",
                    f"resolved now {path.name}",
                )
            )
        elif not args.check:
            path.write_text(text)
        print(f"{name}: {len(pins(text))} packages {'(stale)' if name in stale else ''}".rstrip())
    if stale:
        print(
            f"lock_images.py: the committed lock of {', '.join(stale)} is not what its inputs resolve to now: "
            "run `python containers/lock_images.py` and commit containers/locks/",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
