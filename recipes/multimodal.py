"""`python -m recipes.multimodal`: split, reassemble and verify Gemma 3's vision tower around text-only training (recipes.artifacts.multimodal)."""

from recipes.artifacts.multimodal import main

if __name__ == "__main__":
    raise SystemExit(main())
