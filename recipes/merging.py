"""`python -m recipes.merging`: merge Hugging Face checkpoints through mergekit's Python API (recipes.engines.mergekit_merge)."""

from recipes.engines.mergekit_merge import main

if __name__ == "__main__":
    raise SystemExit(main())
