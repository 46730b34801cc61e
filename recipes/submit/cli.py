"""The command line shared by every stage command (`sealion <stage>`, `python -m recipes.<stage>`) and by `plan` /
`pipeline`.

Arguments are Hydra overrides (`key=value`, `group=option`, `+new.key=value`), plus `--cfg job` to print the
resolved config and `--help`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import yaml
from omegaconf import OmegaConf
from rich.console import Console

from recipes.core.config import CONF_DIR, ConfigError, owned_elsewhere, section_owners, sections_set_by
from recipes.core.status import UnreadableStatus
from recipes.runtime import os_errors
from recipes.stages import compose, specs
from recipes.stages import stage as stage_spec
from recipes.submit.launch import StageFailed, prepare, submit
from recipes.submit.preflight import PreflightError

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
console = Console(highlight=False)


def config_groups(stage: str | None) -> list[str]:
    """One line per config group the stage's job can take: every `conf/<group>/` directory and every group
    config.yaml's defaults list names (`context/stage`), with its options and the default marked `*`, less `stage`
    (the command chooses it) and the groups that set only other stages' sections (precision for rl). A group
    outside the defaults list is added with `+group=option`; one the defaults list picks by interpolation
    (experiment_stage) says from what."""
    defaults = {
        key.removeprefix("optional "): str(value)
        for entry in yaml.safe_load((CONF_DIR / "config.yaml").read_text())["defaults"]
        if isinstance(entry, dict)
        for key, value in entry.items()
    }
    groups = sorted({p.name for p in CONF_DIR.iterdir() if p.is_dir()} | set(defaults))
    owners = section_owners(specs())
    lines = []
    for group in groups:
        options = sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))
        sets = {section for option in options for section in sections_set_by(group, option)}
        if stage and (group == "stage" or (sets and all(owned_elsewhere(owners, s, {stage}) for s in sets))):
            continue
        default = defaults.get(group)
        if default is None:
            listed = f"{', '.join(options)} (not in the defaults: +{group}=OPTION)"
        elif "${" in default:
            listed = f"{default} when that file exists ({len(options)} do)"
        else:
            listed = ", ".join(o + ("*" if o == default else "") for o in options)
        lines.append(f"  {group:<17} {listed}")
    return lines


def usage(prog: str, summary: str, stage: str | None) -> str:
    groups = config_groups(stage)
    return f"""usage: {prog} [--cfg job] [OVERRIDE ...]

{summary}

Overrides (Hydra syntax): key=value, group=option, +new.key=value. Config groups and their options (* the default):
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
  sealion pipeline                                   # the smoke experiment on this machine
  sealion cpt experiment=sealion_v4_27b cluster=slurm launch.dryrun=true
  sealion plan experiment=sealion_v4_27b cluster=slurm stage=cpt model.tensor_model_parallel_size=4
  (`sealion X` is `python -m recipes X`; the first stages also have `python -m recipes.X`)
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
        console.print(usage(prog, summary, stage), markup=False, soft_wrap=True)
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


def stage_main(stage: str, argv: list[str] | None = None, prog: str | None = None) -> int:
    """Entry of `sealion <stage>` and `python -m recipes.<stage>`: compose, preflight, launch (or render with
    launch.dryrun=true)."""

    def action(overrides: list[str]) -> int:
        launch = prepare(stage, overrides)
        report_launch([launch], submit([launch], dryrun=launch.cfg.launch.dryrun))
        return 0

    summary = stage_spec(stage).summary
    return run_command(prog or f"sealion {stage}", summary[:1].upper() + summary[1:], stage, action, argv)


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
