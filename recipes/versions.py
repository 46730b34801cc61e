"""`python -m recipes.versions`: list, show, compare, check and repair version records (recipes.artifacts.versions)."""

from recipes.artifacts.versions import main

if __name__ == "__main__":
    raise SystemExit(main())
