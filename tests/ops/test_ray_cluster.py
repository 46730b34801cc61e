"""The Ray-on-Slurm script: valid bash, head/worker placement, driver exit code, clear errors on bad settings."""

import os
import stat
import subprocess
import textwrap
from pathlib import Path

import pytest

from slurm.ray_cluster import RaySlurmSettings, render_ray_sbatch

# Stand-ins for the Slurm and Ray commands the script calls: each srun call is logged; the driver step is executed.
SRUN = textwrap.dedent("""\
    #!/bin/bash
    echo "$*" >> "$STUB_LOG"
    case "$*" in
      *"hostname --ip-address"*) echo "10.0.0.1 fe80::1" ;;
      *"ray start"*|*"ray stop"*) exit 0 ;;
      *"python -c"*) echo "$STUB_NODES" ;;
      *"bash -c"*) exec bash -c "${@: -1}" ;;
    esac
    """)


def _settings(**overrides) -> RaySlurmSettings:
    base = dict(nodes=3, gpus_per_node=8, image="/shared/images/sealion-rl.sqsh", mounts=["/shared:/shared"],
                env={"HF_HOME": "/shared/hf cache"}, command="echo driver ran > \"$OUT_FILE\"; exit 3",
                account="proj", partition="a3ultra", time="2-00:00:00", signal="TERM@120", join_timeout_s=5)
    return RaySlurmSettings(**{**base, **overrides})


def _run(tmp_path: Path, script: str, nodes_joined: int) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in {"srun": SRUN, "scontrol": "#!/bin/bash\nprintf 'gpu-a\\ngpu-b\\ngpu-c\\n'\n"}.items():
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755 | stat.S_IEXEC)
    (tmp_path / "job.sh").write_text(script)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_JOB_NODELIST": "gpu-[a-c]",
           "STUB_LOG": str(tmp_path / "srun.log"), "STUB_NODES": str(nodes_joined),
           "OUT_FILE": str(tmp_path / "driver.out")}
    return subprocess.run(["bash", str(tmp_path / "job.sh")], env=env, capture_output=True, text=True, timeout=60)


def test_script_is_valid_bash_with_directives(tmp_path):
    script = render_ray_sbatch(_settings())
    (tmp_path / "job.sh").write_text(script)
    subprocess.run(["bash", "-n", str(tmp_path / "job.sh")], check=True)
    for directive in ("--nodes=3", "--gpus-per-node=8", "--account=proj", "--partition=a3ultra",
                      "--time=2-00:00:00", "--signal=TERM@120"):
        assert f"#SBATCH {directive}\n" in script
    assert "export HF_HOME='/shared/hf cache'" in script


def test_head_workers_and_driver_exit_code(tmp_path):
    result = _run(tmp_path, render_ray_sbatch(_settings()), nodes_joined=3)
    assert result.returncode == 3, result.stderr  # the driver's exit code is the job's
    assert (tmp_path / "driver.out").read_text() == "driver ran\n"
    calls = (tmp_path / "srun.log").read_text().splitlines()
    starts = [c for c in calls if "ray start" in c]
    assert len(starts) == 3
    assert "-w gpu-a" in starts[0] and "--head" in starts[0] and "--node-ip-address=10.0.0.1" in starts[0]
    assert sorted(c.split("-w ")[1].split()[0] for c in starts[1:]) == ["gpu-b", "gpu-c"]
    assert all("--address=10.0.0.1:6379" in c for c in starts[1:])
    assert all("--container-image=/shared/images/sealion-rl.sqsh" in c for c in starts)
    assert "Ray cluster up: 3 node(s)" in result.stdout


def test_job_fails_when_nodes_do_not_join(tmp_path):
    result = _run(tmp_path, render_ray_sbatch(_settings(join_timeout_s=0)), nodes_joined=2)
    assert result.returncode == 1
    assert "did not reach 3 nodes" in result.stderr
    assert not (tmp_path / "driver.out").exists()


@pytest.mark.parametrize("field,value,message", [
    ("image", "", "image is empty"),
    ("nodes", 0, "nodes=0"),
    ("time", "4h", "time='4h'"),
    ("signal", "TERM", "signal='TERM'"),
    ("mounts", ["/a"], "mounts entry '/a'"),
    ("command", " ", "command is empty"),
])
def test_bad_settings_name_the_field(field, value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        render_ray_sbatch(_settings(**{field: value}))
