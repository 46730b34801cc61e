"""The submit side (a login node, the launcher's dependencies only): command line, compose + preflight + memory
estimate, manifest, NeMo-Run launch."""
