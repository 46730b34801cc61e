"""Data preparation: raw multilingual text to tokenised Megatron datasets and weighted blends."""
