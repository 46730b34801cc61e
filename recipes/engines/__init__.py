"""Adapters to the engines: Megatron-Bridge, NeMo-RL, mergekit; each engine imported only where used."""
