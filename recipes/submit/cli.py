"""The command line shared by every `python -m recipes.<stage>` and by `recipes.plan` / `recipes.pipeline`.

Arguments are Hydra overrides (`key=value`, `group=option`, `+new.key=value`), plus `--cfg job` to print the
resolved config and `--help`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from omegaconf import OmegaConf
from rich.console import Console

from recipes.core.config import CONF_DIR, ConfigError, compose
from recipes.core.stage_specs import STAGES
from recipes.core.status import UnreadableStatus
from recipes.runtime import os_errors
from recipes.submit.launch import StageFailed, prepare, submit
from recipes.submit.preflight import PreflightError

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
console = Console(highlight=False)


def usage(prog: str, summary: str) -> str:
    groups = []
    for group in ("experiment", "model", "precision", "cluster", "data", "stage"):
        options = sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))
        groups.append(f"  {group:<11} {', '.join(options)}")
    return f"""usage: python -m {prog} [--cfg job] [OVERRIDE ...]

{summary}

Overrides (Hydra syntax): key=value, group=option, +new.key=value. Config groups and their options:
{chr(10).join(groups)}

Useful keys:
  launch.dryrun=true      render the launch (sbatch script or local command) and the resolved config to the
                          run directory, submit nothing
  launch.root=DIR         where run directories go (default: $SEALION_RUNS or ./runs)
  run.name=NAME           the run directory is <launch.root>/<run.name>/<stage>
  run.input=PATH          the artifact this stage starts from

Flags:
  --cfg job               print the resolved config and exit (also: --cfg all)
  -h, --help              this help

Examples:
  python -m recipes.pipeline                                   # the smoke experiment on this machine
  python -m recipes.cpt experiment=sealion_v4_27b cluster=slurm launch.dryrun=true
  python -m recipes.plan experiment=sealion_v4_27b cluster=slurm stage=cpt model.tensor_model_parallel_size=4
"""


def parse(argv: list[str]) -> tuple[bool, bool, list[str]]:
    """(wants help, wants --cfg, overrides)."""
    help_, show_cfg, overrides = False, False, []
    args = iter(argv)
    for arg in args:
        if arg in ("-h", "--help"):
            help_ = True
        elif arg in ("--cfg", "-c"):
            show_cfg = True
            next(args, None)  # job | all: both print the whole resolved config here
        elif arg.startswith("--cfg="):
            show_cfg = True
        elif arg == "--resolve":
            continue
        else:
            overrides.append(arg)
    return help_, show_cfg, overrides


def run_command(
    prog: str, summary: str, stage: str | None, action: Callable[[list[str]], int], argv: list[str] | None = None
) -> int:
    """Parse, handle --help / --cfg, run `action(overrides)`; user errors become one `error:` line and exit 2."""
    help_, show_cfg, overrides = parse(sys.argv[1:] if argv is None else argv)
    if help_:
        console.print(usage(prog, summary), markup=False)
        return 0
    try:
        if show_cfg:
            console.print(OmegaConf.to_yaml(compose(stage, overrides)), markup=False, end="")
            return 0
        return action(overrides)
    except (ConfigError, PreflightError) as err:
        for line in (
            [unquoted_override(str(err), overrides)] if "token recognition error" in str(err) else str(err).splitlines()
        ):
            err_console.print(f"error: {line}", markup=False)
        return 2
    except StageFailed as err:
        err_console.print(f"error: {err}", markup=False)
        return 1
    except UnreadableStatus as err:
        err_console.print(f"error: {err}", markup=False)
        return 2
    except OSError as err:  # a full disk, launch.root on a read-only or missing mount: one line, not a traceback
        err_console.print(f"error: {os_errors.describe(err)}", markup=False)
        return 2


def unquoted_override(message: str, overrides: list[str]) -> str:
    """Hydra's lexer error for an override holding characters its grammar does not take unquoted (non-ASCII
    letters, spaces, brackets): which override, and how to quote it."""
    bad = next((o for o in overrides if not o.isascii() or any(c in o.partition("=")[2] for c in " ()[]{}'\",")), None)
    if bad is None:
        return message.replace("\n", " ")
    key, _, value = bad.partition("=")
    what = f"{key}: the value {value!r} has characters Hydra's override grammar does not take unquoted"
    if key.lstrip("+~") == "run.name":  # quoted, it is still no run name: it names directories and version ids
        return f"{what}; fix: use ASCII letters, digits, '.', '_' or '-' in run.name, e.g. run.name=sealion_th_test"
    return f"{what}; fix: quote the value inside the argument, e.g. \"{key}='{value}'\""


def stage_main(stage: str, summary: str) -> int:
    """Entry of `python -m recipes.<stage>`: compose, preflight, launch (or render with launch.dryrun=true)."""

    def action(overrides: list[str]) -> int:
        launch = prepare(stage, overrides)
        report_launch([launch], submit([launch], dryrun=launch.cfg.launch.dryrun))
        return 0

    assert stage in STAGES
    return run_command(f"recipes.{stage}", summary, stage, action)


def report_launch(launches, submission) -> None:
    for launch in launches:
        what = "rendered" if (launch.cfg.launch.dryrun or not launch.runs_here) else "launched"
        note = "" if launch.runs_here else " (needs CUDA; none here: rendered, not run)"
        rendered = submission.rendered.get(launch.name)
        for finding in launch.report.findings:
            if finding.severity == "warning":
                err_console.print(f"warning: {finding.line()}", markup=False)
        console.print(
            f"[bold]{launch.name}[/bold] {what}{note}: {launch.run_dir}"
            + (f"\n  launch: {Path(rendered)}" if rendered else "")
        )
