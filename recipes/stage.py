"""What a stage sees inside its job: the typed config and its run directory; where its input and output live."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from recipes.schema import RootConfig


@dataclass
class StageContext:
    cfg: RootConfig
    run_dir: Path

    @property
    def artifact_dir(self) -> Path:
        """Where the stage writes its payload; `version.json` sits beside it."""
        return self.run_dir / "artifact"

    def input_dir(self) -> Path | None:
        """The upstream artifact: run.input (a path) or the artifact of the pipeline's previous stage."""
        if self.cfg.run.input:
            return Path(self.cfg.run.input)
        if self.cfg.run.upstream:
            return self.run_dir.parent / self.cfg.run.upstream / "artifact"
        return None

    def model_source(self) -> str:
        """The model a post-training stage starts from: its upstream artifact (run.input or the previous stage's
        output, which may not exist yet when the launch is rendered), else the experiment's base model."""
        upstream = self.input_dir()
        return str(upstream) if upstream else self.cfg.model.hf_id

