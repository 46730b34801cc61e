"""`python -m recipes.status`: where each stage of a run stands (recipes.submit.status)."""

from recipes.submit.status import main

if __name__ == "__main__":
    raise SystemExit(main())
