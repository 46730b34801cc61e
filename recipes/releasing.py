"""`python -m recipes.releasing`: a finished model's release variants, each checked against the BF16 export (recipes.artifacts.release_variants)."""

from recipes.artifacts.release_variants import main

if __name__ == "__main__":
    raise SystemExit(main())
