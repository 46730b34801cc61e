"""sealion-recipes: stage entry points (`python -m recipes.<stage>`) and the launcher."""
