"""Render an sbatch script that starts a Ray cluster across a Slurm allocation and runs one driver command on it.

NeMo-RL (rl and apo stages) schedules its policy and vLLM workers through Ray, so a multi-node NeMo-RL job needs a
Ray head on the first node, a Ray worker on every other node (each inside the same pyxis/enroot container), and the
driver started on the head once all nodes have joined. This mirrors the shape of NeMo-RL's own `ray.sub`.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from dataclasses import dataclass, field
from typing import Optional

_TIME = re.compile(r"^(\d+-)?\d{1,2}(:\d{2}){0,2}$")
_SIGNAL = re.compile(r"^(B:)?[A-Z0-9]+@\d+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class RaySlurmSettings:
    nodes: int = 1
    gpus_per_node: int = 8
    image: str = ""  # enroot squashfs (cluster.containers.rl), e.g. /shared/images/sealion-rl.sqsh
    mounts: list[str] = field(default_factory=list)  # "src:dst[:flags]"
    env: dict[str, str] = field(default_factory=dict)
    command: str = ""  # the driver, e.g. "python -m recipes.stage_runner --run-dir /runs/x/rl"
    account: Optional[str] = None
    partition: Optional[str] = None
    time: str = "04:00:00"
    signal: Optional[str] = "TERM@120"  # NeMo-RL saves a checkpoint and exits on SIGTERM before the time limit
    job_name: str = "sealion-ray"
    log_dir: str = "."  # where Slurm writes ray-<job id>.out (the stage's run directory)
    ray_port: int = 6379
    join_timeout_s: int = 600  # how long to wait for every node to join before failing the job


def validate(s: RaySlurmSettings) -> None:
    """Raise ValueError naming the field and the fix for settings that would render a broken script."""
    problems = []
    if s.nodes < 1:
        problems.append(f"nodes={s.nodes}: need at least 1 node")
    if s.gpus_per_node < 0:
        problems.append(f"gpus_per_node={s.gpus_per_node}: must be >= 0")
    if not s.image:
        problems.append("image is empty: set it to the RL squashfs (cluster.containers.rl, built by containers/build.sh)")
    if not s.command.strip():
        problems.append("command is empty: set the driver command to run on the Ray head")
    for mount in s.mounts:
        if len(mount.split(":")) not in (2, 3) or "," in mount:
            problems.append(f"mounts entry {mount!r}: expected 'src:dst' or 'src:dst:flags'")
    for name in s.env:
        if not _ENV_NAME.match(name):
            problems.append(f"env key {name!r}: not a valid environment variable name")
    if not _TIME.match(s.time):
        problems.append(f"time={s.time!r}: use Slurm's [D-]HH:MM:SS form, e.g. 04:00:00")
    if s.signal is not None and not _SIGNAL.match(s.signal):
        problems.append(f"signal={s.signal!r}: use Slurm's [B:]SIG@SECONDS form, e.g. TERM@120")
    if not 1024 <= s.ray_port <= 65535:
        problems.append(f"ray_port={s.ray_port}: pick a port in 1024-65535")
    if problems:
        raise ValueError("Ray-on-Slurm settings: " + "; ".join(problems))


def render_ray_sbatch(s: RaySlurmSettings) -> str:
    """The sbatch script text: head on node 0, workers on the rest, driver on the head, driver's exit code."""
    validate(s)
    q = shlex.quote
    directives = [f"--job-name={s.job_name}", f"--nodes={s.nodes}", "--ntasks-per-node=1", "--exclusive",
                  f"--time={s.time}", f"--output={s.log_dir}/ray-%j.out"]
    if s.gpus_per_node:
        directives.append(f"--gpus-per-node={s.gpus_per_node}")
    directives += [f"--{key}={value}" for key, value in
                   (("account", s.account), ("partition", s.partition), ("signal", s.signal)) if value]
    container = [f"--container-image={s.image}", "--container-name=sealion-ray", "--no-container-mount-home"]
    if s.mounts:
        container.append(f"--container-mounts={','.join(s.mounts)}")
    exports = "\n".join(f"export {name}={q(value)}" for name, value in s.env.items())
    lines = [
        "#!/bin/bash",
        *(f"#SBATCH {d}" for d in directives),
        "# Rendered by slurm/ray_cluster.py: Ray head on the first node, one Ray worker per other node, the driver",
        "# on the head once all nodes have joined. The job ends with the driver's exit code.",
        "set -euo pipefail",
        exports,
        f"CONTAINER=({' '.join(q(c) for c in container)})",
        'mapfile -t NODES < <(scontrol show hostnames "$SLURM_JOB_NODELIST")',
        'HEAD_NODE="${NODES[0]}"',
        'HEAD_IP=$(srun --nodes=1 --ntasks=1 -w "$HEAD_NODE" hostname --ip-address | awk \'{print $1}\')',
        f'RAY_ADDRESS="$HEAD_IP:{s.ray_port}"',
        "export RAY_ADDRESS",
        f"GPUS={s.gpus_per_node}",
        "",
        "# Head and workers block in their own job steps; the driver attaches to the head's container.",
        'srun --nodes=1 --ntasks=1 -w "$HEAD_NODE" "${CONTAINER[@]}" \\',
        f'  ray start --head --node-ip-address="$HEAD_IP" --port={s.ray_port} --num-gpus="$GPUS" --block &',
        'for node in "${NODES[@]:1}"; do',
        '  srun --nodes=1 --ntasks=1 -w "$node" "${CONTAINER[@]}" \\',
        '    ray start --address="$RAY_ADDRESS" --num-gpus="$GPUS" --block &',
        "done",
        "",
        f"deadline=$((SECONDS + {s.join_timeout_s}))",
        f"until [ \"$(srun --overlap --nodes=1 --ntasks=1 -w \"$HEAD_NODE\" \"${{CONTAINER[@]}}\" \\",
        "    python -c 'import ray; ray.init(address=\"auto\", logging_level=\"ERROR\"); "
        "print(sum(n[\"Alive\"] for n in ray.nodes()))' 2>/dev/null | tail -n1)\" = "
        f"\"{s.nodes}\" ]; do",
        '  if [ "$SECONDS" -ge "$deadline" ]; then',
        f'    echo "Ray cluster did not reach {s.nodes} nodes in {s.join_timeout_s} s" >&2; exit 1',
        "  fi",
        "  sleep 10",
        "done",
        f'echo "Ray cluster up: {s.nodes} node(s) x $GPUS GPU(s) at $RAY_ADDRESS"',
        "",
        "set +e",
        'srun --overlap --nodes=1 --ntasks=1 -w "$HEAD_NODE" "${CONTAINER[@]}" bash -c ' + q(s.command),
        "status=$?",
        "set -e",
        'srun --overlap --nodes=1 --ntasks=1 -w "$HEAD_NODE" "${CONTAINER[@]}" ray stop --force || true',
        'exit "$status"',
    ]
    return "\n".join(lines) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m slurm.ray_cluster",
                                     description="Print a Ray-on-Slurm sbatch script for a NeMo-RL driver command.")
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--gpus-per-node", type=int, default=8)
    parser.add_argument("--image", required=True, help="enroot squashfs of the RL image")
    parser.add_argument("--mount", action="append", default=[], help="src:dst (repeatable)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="repeatable")
    parser.add_argument("--account")
    parser.add_argument("--partition")
    parser.add_argument("--time", default="04:00:00")
    parser.add_argument("--signal", default="TERM@120")
    parser.add_argument("--log-dir", default=".")
    parser.add_argument("command", help="driver command run on the Ray head")
    args = parser.parse_args(argv)
    bad = [item for item in args.env if "=" not in item]
    if bad:
        parser.error(f"--env {bad[0]!r}: expected NAME=VALUE")
    env = dict(item.split("=", 1) for item in args.env)
    settings = RaySlurmSettings(nodes=args.nodes, gpus_per_node=args.gpus_per_node, image=args.image,
                                mounts=args.mount, env=env, command=args.command, account=args.account,
                                partition=args.partition, time=args.time, signal=args.signal, log_dir=args.log_dir)
    try:
        sys.stdout.write(render_ray_sbatch(settings))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
