"""Parameter counts of the Gemma 3 language model a config describes: for the memory estimate (recipes.submit.memory)
and for stage checks that size a model against a GPU (select)."""

from __future__ import annotations

from recipes.core.schema import RootConfig


def parameter_counts(cfg: RootConfig) -> tuple[int, int]:
    """(parameters per transformer layer, embedding parameters) of the language model."""
    m = cfg.model
    h, f = m.hidden_size, m.ffn_hidden_size
    q, kv = m.num_attention_heads * m.kv_channels, m.num_query_groups * m.kv_channels
    attention = h * (q + 2 * kv) + q * h + 2 * m.kv_channels  # QKV, output projection, QK norms
    mlp = 3 * h * f  # gate, up, down
    norms = 4 * h  # pre/post attention and pre/post FFN RMSNorms
    return attention + mlp + norms, m.vocab_size * h


def total_parameters(cfg: RootConfig) -> int:
    per_layer, embedding = parameter_counts(cfg)
    untied = 0 if cfg.model.share_embeddings_and_output_weights else embedding
    return per_layer * cfg.model.num_layers + embedding + untied + cfg.model.hidden_size
