"""sealion-recipes: the `sealion` console script (recipes.cli), its commands (`python -m recipes.<command>`) and the
launcher."""
