"""The cluster presets compose onto the typed schema and carry the fabric settings they exist for."""

import pytest

from recipes.core.config import to_object
from recipes.stages import compose


def _cluster(name: str, monkeypatch):
    monkeypatch.delenv("NCCL_IB_HCA", raising=False)
    return to_object(compose("data_prep", [f"cluster={name}"])).cluster


def test_a3ultra_uses_gib_and_keeps_slurm_defaults(monkeypatch):
    c = _cluster("gcp_a3ultra", monkeypatch)
    assert (c.name, c.executor, c.gpu_memory_gib) == ("gcp_a3ultra", "slurm", 141)
    assert c.env["NCCL_NET"] == "gIB" and c.env["NCCL_TUNER_CONFIG_PATH"].startswith("/usr/local/gib/")
    assert c.env["CUDA_DEVICE_MAX_CONNECTIONS"] == "1"  # merged from slurm.yaml
    assert "/usr/local/gib:/usr/local/gib" in c.container_mounts
    assert c.containers["rl"].endswith("sealion-rl.sqsh")


def test_a3mega_tcpxo_env(monkeypatch):
    c = _cluster("gcp_a3mega", monkeypatch)
    assert c.env["NCCL_FASTRAK_PLUGIN_ACCEPT_TIMEOUT_MS"] == "600000"
    assert "/dev/aperture_devices:/dev/aperture_devices" in c.container_mounts


@pytest.mark.parametrize("hca", [None, "=mlx5_0,mlx5_3"])
def test_infiniband_hca_follows_environment(monkeypatch, hca):
    monkeypatch.delenv("NCCL_IB_HCA", raising=False)
    if hca:
        monkeypatch.setenv("NCCL_IB_HCA", hca)
    c = to_object(compose("data_prep", ["cluster=infiniband"])).cluster
    assert c.env["NCCL_IB_HCA"] == (hca or "mlx5")
    assert c.env["NCCL_SOCKET_IFNAME"] == "^lo,docker"
    assert c.env["TORCH_NCCL_ASYNC_ERROR_HANDLING"] == "1"
