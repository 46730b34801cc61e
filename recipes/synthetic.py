"""`python -m recipes.synthetic`: synthetic eval sets for low-resource languages (data_prep.synthetic)."""

from data_prep.synthetic import main

if __name__ == "__main__":
    main()
