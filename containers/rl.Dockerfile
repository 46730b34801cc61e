# RL image (rl, clair and apo stages): NVIDIA's NeMo-RL release image (NeMo-RL, Ray, vLLM) plus this repo's job side
# with its `eval` extra (the IFEval reward's language ID and Thai segmentation, the metrics CLAIR and the rewards
# import), as containers/locks/rl.txt resolved it against NeMo-RL's own uv.lock (rl.base.txt); never the launcher.
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
# --no-deps: nothing of NeMo-RL's venv is replaced; check_image.py fails on any new conflict in it.
RUN /opt/nemo_rl_venv/bin/python -m pip check > /tmp/pip-check.before 2>&1 || true \
 && uv pip install --python /opt/nemo_rl_venv/bin/python --no-cache --no-deps -r containers/locks/rl.txt \
 && uv pip install --python /opt/nemo_rl_venv/bin/python --no-cache --no-deps -e . \
 && /opt/nemo_rl_venv/bin/python containers/check_image.py rl /tmp/pip-check.before \
 && python -m recipes.checkpoints --help > /dev/null
# What the job imports, from where it runs: NeMo-Run unpacks the repository into /nemo_run/code and starts the
# driver there, so `recipes` must come from that copy and `nemo_rl` from the venv (not from /opt/nemo-rl's cwd).
RUN mkdir -p /nemo_run/code && cp -r recipes data_prep evals conf pyproject.toml /nemo_run/code/
WORKDIR /nemo_run/code
RUN python -c "import recipes, nemo_rl.algorithms.grpo, nemo_rl.algorithms.dpo, ray, recipes.runtime.stage_runner, \
recipes.posttrain.nemo_rl_entry, recipes.posttrain.environments, nemo_rl; \
assert recipes.__file__.startswith('/nemo_run/code/'), recipes.__file__; print('nemo_rl from', nemo_rl.__file__)" \
 && rm -rf /nemo_run/code/*
WORKDIR /opt/sealion-recipes
ENV SEALION_REPO=/opt/sealion-recipes \
    SEALION_GIT_COMMIT=${GIT_COMMIT} \
    NEMO_RL_HOME=/opt/nemo-rl
