"""`python -m recipes.plan [overrides]`: the preflight report of one stage as a table, without launching.

GPUs, the parallel layout, the per-GPU memory estimate against the cluster's GPU memory, tokens per step, steps,
and the GPU-hours the run would take at the assumed model FLOPs utilisation (launch.assumed_mfu).
"""

from __future__ import annotations

import sys

from rich.table import Table

from recipes.core.config import to_object
from recipes.core.schema import RootConfig
from recipes.stages import compose
from recipes.submit import memory, preflight
from recipes.submit.cli import console, run_command


def gpu_hours(cfg: RootConfig, report: preflight.PlanReport) -> float | None:
    peak = cfg.cluster.gpu_peak_bf16_tflops
    if not (peak and report.steps and report.tokens_per_step):
        return None
    flops = memory.flops_per_token(cfg) * report.tokens_per_step * report.steps
    return flops / (peak * 1e12 * cfg.launch.assumed_mfu) / 3600


def render(cfg: RootConfig, report: preflight.PlanReport) -> Table:
    table = Table(title=f"plan: {cfg.run.experiment} / {cfg.stage.name} on {cfg.cluster.name}", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    m = cfg.model
    table.add_row("model", f"{m.name} ({memory.total_parameters(cfg) / 1e9:.2f}B parameters)")
    table.add_row("GPUs", f"{report.gpus} ({cfg.stage.nodes} nodes)")
    if report.parallelism:
        p = report.parallelism
        table.add_row("layout", f"TP{p.tp} x PP{p.pp} x CP{p.cp} x DP{p.dp}" + (f", VP{p.vp}" if p.vp > 1 else ""))
    if report.memory:
        e = report.memory
        budget = cfg.cluster.gpu_memory_gib
        for label, value in [
            ("weights (bf16)", e.weights_gib),
            ("gradients (fp32)", e.grads_gib),
            ("optimizer (fp32 master + Adam)", e.optimizer_gib),
            ("activations", e.activations_gib),
            ("logits", e.logits_gib),
            ("logits gradient", e.logits_grad_gib),
            ("allocator reserve", e.allocator_reserve_gib),
            ("CUDA/NCCL/TE workspaces", e.overhead_gib),
        ]:
            table.add_row(f"  {label}", f"{value:.1f} GiB")
        table.add_row(
            "memory / GPU",
            f"{e.total_gib:.1f} of {budget:g} GiB ({e.total_gib / budget:.0%})" if budget else f"{e.total_gib:.1f} GiB",
        )
    if report.tokens_per_step:
        table.add_row("tokens / step", f"{report.tokens_per_step:,}")
        table.add_row("steps", f"{report.steps:,}")
        table.add_row("tokens", f"{report.tokens_per_step * report.steps / 1e9:,.1f}B")
        table.add_row("model FLOPs / token", f"{memory.flops_per_token(cfg) / 1e9:.1f} GFLOP")
    hours = gpu_hours(cfg, report)
    if hours:
        table.add_row(
            f"GPU-hours at {cfg.launch.assumed_mfu:.0%} MFU",
            f"{hours:,.0f} ({hours / max(report.gpus, 1):,.1f} h wall)",
        )
    return table


def main(argv: list[str] | None = None, prog: str = "python -m recipes.plan") -> int:
    def action(overrides: list[str]) -> int:
        cfg = to_object(compose(None, ["launch.dryrun=true", *overrides]))  # plans submit nothing
        report = preflight.plan(cfg)
        console.print(render(cfg, report))
        for finding in report.findings:
            colour = "red" if finding.severity == "error" else "yellow"
            console.print(f"[{colour}]{finding.severity}[/{colour}] {finding.line()}")
        return 2 if report.errors else 0

    return run_command(prog, __doc__.splitlines()[0], None, action, argv)


if __name__ == "__main__":
    sys.exit(main())
