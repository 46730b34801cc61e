"""`python -m recipes.checkpoints`: inspect a stage's checkpoints (the newest complete one) (recipes.artifacts.checkpoints)."""

from recipes.artifacts.checkpoints import main

if __name__ == "__main__":
    raise SystemExit(main())
