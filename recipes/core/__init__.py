"""The light core: config schema and composition, the stage registry, run-directory layout, languages, atomic writes,
chat template. Imports nothing above it."""
