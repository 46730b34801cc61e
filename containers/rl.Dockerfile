# RL image (rl, clair and apo stages): NVIDIA's NeMo-RL release image (NeMo-RL, Ray, vLLM) plus this repo with its
# `eval` extra (the IFEval reward's language ID and Thai segmentation, the metrics CLAIR and the rewards import).
ARG NEMO_RL_IMAGE
FROM ${NEMO_RL_IMAGE}

ARG NEMO_RL_REF
ARG GIT_COMMIT=unknown
LABEL org.opencontainers.image.title="sealion-rl" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      sealion.nemo-rl.ref="${NEMO_RL_REF}"
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# NeMo-RL's release image: the checkout in /opt/nemo-rl (examples/, nemo_rl/), its uv venv /opt/nemo_rl_venv first
# on PATH (no pip inside: install with uv), NEMO_RL_COMMIT naming the commit it was built from, and per-worker
# venvs (vLLM, Megatron) prefetched under /opt/ray_venvs. Fail early if the image is not that layout.
RUN test -f /opt/nemo-rl/examples/run_grpo_math.py \
 && python -c "import ray, nemo_rl" \
 && echo "NeMo-RL ${NEMO_RL_REF} at commit ${NEMO_RL_COMMIT:-unknown}"

WORKDIR /opt/sealion-recipes
COPY . .
RUN uv pip install --python /opt/nemo_rl_venv/bin/python --no-cache -e ".[eval]" \
 && python -m recipes.checkpoints --help > /dev/null
ENV SEALION_REPO=/opt/sealion-recipes \
    SEALION_GIT_COMMIT=${GIT_COMMIT} \
    NEMO_RL_HOME=/opt/nemo-rl
