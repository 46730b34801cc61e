# Eval image: vLLM's server image, lm-evaluation-harness, SEA-HELM at a pinned commit, and this repo.
ARG VLLM_IMAGE
FROM ${VLLM_IMAGE}

ARG LM_EVAL_VERSION
ARG UV_VERSION
ARG SEAHELM_COMMIT
ARG GIT_COMMIT=unknown
LABEL org.opencontainers.image.title="sealion-eval" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      sealion.seahelm.commit="${SEAHELM_COMMIT}"
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# git for the SEA-HELM checkout; the distribution's current git is fine (no behaviour we depend on changes).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/*

RUN pip install --no-cache-dir "uv==${UV_VERSION}" "lm-eval[ifeval,math]==${LM_EVAL_VERSION}"

# SEA-HELM runs from its own checkout with `uv run` (evals/seahelm.py renders those commands); sync its
# environment now so evaluation jobs start without network access.
RUN git clone https://github.com/aisingapore/SEA-HELM.git /opt/SEA-HELM \
 && git -C /opt/SEA-HELM checkout --quiet "${SEAHELM_COMMIT}" \
 && uv sync --directory /opt/SEA-HELM

WORKDIR /opt/sealion-recipes
COPY . .
RUN pip install --no-cache-dir -e . \
 && python -m recipes.checkpoints --help > /dev/null
ENV SEALION_REPO=/opt/sealion-recipes \
    SEALION_GIT_COMMIT=${GIT_COMMIT}
# The base image starts the vLLM server; jobs run their own commands through srun.
ENTRYPOINT []
