"""Gradient-based prompt selection (LESS: Xia et al., ICML 2024, arXiv 2402.04333; reference code
github.com/princeton-nlp/LESS at commit 1e4afda226fc508f97bcba878dafcc0095f8d810).

pool -> warmup (LoRA on a random part of the pool, a checkpoint per epoch) -> features (per-example LoRA gradients
at every checkpoint, Adam-preconditioned for candidates, plain for targets, randomly projected, in shards) ->
scoring (learning-rate-weighted cosine similarity summed over checkpoints, streamed over shards) -> report.
Imports only torch, transformers, peft, numpy, pyarrow, matplotlib and the stdlib, each inside the function that
needs it, so the launcher composes and dry-runs without them."""
