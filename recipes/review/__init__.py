"""Native-speaker review: a blind side-by-side web app for two model versions, and the export of its verdicts
into both versions' records (`python -m recipes.review --help`)."""
