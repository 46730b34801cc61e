"""A stage's run directory, `<launch.root>/<run.name>/<stage>/`, and the files in it, named once.

The launcher writes `resolved.yaml` and `manifest.json`, renders what the job runs into `launch/`; the job writes
`status.json` (one `status.task-NNNN.json` per array task), an array's coordination records in `tasks/`, `logs/`,
`checkpoints/` and the payload in `artifact/`, which version records point at. The submit side, the job side and
`recipes.status` all read the same names here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StageDir:
    path: Path

    @property
    def resolved(self) -> Path:
        """The composed config, secrets redacted: what the job reads."""
        return self.path / "resolved.yaml"

    @property
    def manifest(self) -> Path:
        """Lineage: overrides, git state, parents, hosts (recipes.artifacts.manifest)."""
        return self.path / "manifest.json"

    @property
    def status(self) -> Path:
        return self.path / "status.json"

    def task_status(self, index: int) -> Path:
        return self.path / f"status.task-{index:04d}.json"

    def task_statuses(self) -> list[Path]:
        return sorted(self.path.glob("status.task-*.json"))

    @property
    def artifact(self) -> Path:
        """The stage's payload; `version.json` sits in it."""
        return self.path / "artifact"

    @property
    def array_records(self) -> Path:
        """A job array's coordination records (per-task shard lists, which task screened, claimed or merged, per
        launch): run state, not payload, so outside `artifact/` and out of its version's content key."""
        return self.path / "tasks"

    @property
    def launch(self) -> Path:
        """What the launch rendered: sbatch.sh or command.sh, an engine's own config."""
        return self.path / "launch"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def checkpoints(self) -> Path:
        """The default checkpoint directory (`checkpoint.save` overrides it for the Megatron stages)."""
        return self.path / "checkpoints"
