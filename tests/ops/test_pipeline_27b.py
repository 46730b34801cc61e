"""The full SEA-LION v4 pipeline rendered for Slurm on every cluster preset (dry run): one sbatch per stage in the
card's order, chained afterok, each stage in its image with the preset's fabric environment and the signal lead;
and each stage reading the artifact of the stage it needs."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
STAGES = ["hf_import", "data_prep", "cpt", "sft", "merge", "rl", "clair", "apo", "eval", "release"]
IMAGE = {
    "hf_import": "train",
    "data_prep": "cpu",
    "cpt": "train",
    "sft": "train",
    "merge": "cpu",
    "rl": "rl",
    "clair": "rl",
    "apo": "rl",
    "eval": "eval",
    "release": "eval",
}
FABRIC = {
    "slurm": "CUDA_DEVICE_MAX_CONNECTIONS=1",
    "gcp_a3mega": "NCCL_FASTRAK_IFNAME=",
    "gcp_a3ultra": "NCCL_NET=gIB",
    "infiniband": "NCCL_IB_HCA=",
}


def render(root: Path, cluster: str, *extra: str) -> subprocess.CompletedProcess:
    # The raw data, SFT data and CLAIR prompts live only on a real cluster: path checks off for the rendering.
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "recipes.pipeline",
            "experiment=sealion_v4_27b",
            f"cluster={cluster}",
            "launch.dryrun=true",
            "launch.check_paths=false",
            f"launch.root={root}",
            "cluster.account=sealion",
            "cluster.partition=gpu",
            *extra,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "250", "SEALION_IMAGES": "/images"},
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The pipeline rendered once per preset: {cluster: (launch.root, completed process)}."""
    cache = {}

    def get(cluster):
        if cluster not in cache:
            root = tmp_path_factory.mktemp(cluster)
            cache[cluster] = root, render(root, cluster)
        return cache[cluster]

    return get


@pytest.mark.parametrize("cluster", sorted(FABRIC))
def test_pipeline_renders_on_each_preset(rendered, cluster):
    tmp_path, out = rendered(cluster)
    assert out.returncode == 0, out.stderr[-3000:]
    run = tmp_path / "sealion_v4_27b"
    chain = (run / "pipeline_submit.sh").read_text().splitlines()
    submits = [line for line in chain if "sbatch --parsable" in line]
    assert [line.split("=")[0] for line in submits] == [f"job_{s}" for s in STAGES]
    for previous, line in zip(STAGES, submits[1:]):
        assert f"--dependency=afterok:$job_{previous} " in line
    for stage in STAGES:
        sbatch = (run / stage / "launch" / "sbatch.sh").read_text()
        assert re.search(rf"--container-image[= ]/images/sealion-{IMAGE[stage]}\.sqsh", sbatch), stage
        assert "#SBATCH --signal=TERM@" in sbatch and "#SBATCH --kill-on-invalid-dep=yes" in sbatch
        assert f"{tmp_path}:{tmp_path}" in sbatch  # the run directories are mounted into the container
        assert f"python -m recipes.runtime.stage_runner --run-dir {run / stage}" in sbatch
    cpt = (run / "cpt" / "launch" / "sbatch.sh").read_text()
    assert f"export {FABRIC[cluster]}" in cpt
    assert "#SBATCH --nodes=16" in cpt and "#SBATCH --ntasks-per-node=8" in cpt
    assert "ray start --head" in (run / "rl" / "launch" / "sbatch.sh").read_text()


def test_each_stage_reads_the_artifact_it_needs(rendered):
    tmp_path, out = rendered("slurm")
    assert out.returncode == 0, out.stderr[-3000:]
    run = tmp_path / "sealion_v4_27b"
    resolved = {s: yaml.safe_load((run / s / "resolved.yaml").read_text()) for s in STAGES}
    artifact = {s: str(run / s / "artifact") for s in STAGES}
    assert resolved["cpt"]["checkpoint"]["pretrained_checkpoint"] == f"{artifact['hf_import']}/megatron"
    assert resolved["cpt"]["run"]["upstream"] == "data_prep"  # its blend
    assert resolved["sft"]["run"]["upstream"] == "cpt"
    assert resolved["merge"]["merge"]["base_model"] == f"{artifact['hf_import']}/text"
    assert resolved["merge"]["merge"]["models"][0]["path"] == f"{artifact['sft']}/hf"
    assert (
        yaml.safe_load((run / "rl" / "launch" / "nemo_rl.yaml").read_text())["policy"]["model_name"]
        == artifact["merge"]
    )
    apo = yaml.safe_load((run / "apo" / "launch" / "nemo_rl.yaml").read_text())
    assert apo["policy"]["model_name"] == artifact["rl"]
    # NeMo-RL v0.5.0's flat keys: the job splits clair's pairs (apo.pairs) into its own train and held-out files
    assert resolved["apo"]["apo"]["pairs"] == f"{artifact['clair']}/pairs.jsonl"
    assert apo["data"]["train_data_path"] == str(run / "apo" / "data" / "train.jsonl")
    assert f"--model_name {artifact['apo']} " in (run / "eval" / "launch" / "seahelm.sh").read_text()
    assert resolved["release"]["run"]["input"] == artifact["apo"]


def test_paths_an_earlier_stage_makes_pass_preflight_only_inside_the_pipeline(tmp_path):
    def launch(module, *args):
        return subprocess.run(
            [
                sys.executable,
                "-m",
                module,
                "experiment=sealion_v4_27b",
                "cluster=slurm",
                f"launch.root={tmp_path}",
                "dataset.mock=true",
                *args,
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "COLUMNS": "250"},
        )

    alone = launch("recipes.cpt")
    assert alone.returncode == 2
    assert "error: checkpoint.pretrained_checkpoint:" in alone.stderr and "hf_import/artifact/megatron" in alone.stderr
    rendered = launch("recipes.cpt", "launch.dryrun=true")  # a dry run reports missing inputs as warnings
    assert rendered.returncode == 0 and "warning: checkpoint.pretrained_checkpoint:" in rendered.stderr
    piped = launch("recipes.pipeline", "pipeline.stages=[hf_import,cpt]", "launch.dryrun=true")
    assert piped.returncode == 0, piped.stderr[-2000:]
    assert "checkpoint.pretrained_checkpoint" not in piped.stderr


def test_ray_stages_need_an_account_and_partition(tmp_path):
    """NeMo-Run's Ray template writes -A and -p into every srun; unset, they would read 'None' on the cluster."""
    out = render(tmp_path, "slurm", "cluster.account=null", "cluster.partition=null")
    assert out.returncode == 2
    assert "error: cluster.account: unset, and the Ray-on-Slurm job of stage rl" in out.stderr
    assert "error: cluster.partition:" in out.stderr
