"""Post-training losses (Dr. GRPO, DPO/APO) and verifiable rewards (math, IFEval-style), as plain torch/Python.

They run without NeMo-RL; the loss classes take NeMo-RL's `LossFunction` call signature so the rl and apo stages
can hand them to NeMo-RL's trainers inside its container."""
