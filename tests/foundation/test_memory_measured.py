"""Preflight's memory estimate against the 27B proxy measured on one H200 (bench/train_throughput.py's own results,
bench/results/train_throughput_h200_*.json; shared/notes/gpu-results-h200.md): within 10% of the device peak, and
each of the allocator's two figures matched by the terms that make it up."""

import json
from pathlib import Path

import pytest

from recipes.core.config import to_object
from recipes.stages import compose
from recipes.submit import memory

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"
GIB = 1024**3


@pytest.fixture(scope="module")
def proxy():
    return to_object(compose("cpt", ["experiment=gemma3_27b_proxy", "cluster.gpus_per_node=1", "dataset.mock=true"]))


@pytest.mark.parametrize("precision", ["bf16", "fp8_current"])
def test_the_estimate_is_within_10_percent_of_the_measured_device_peak(proxy, precision):
    measured = json.loads((RESULTS / f"train_throughput_h200_{precision}.json").read_text())["memory"]
    est = memory.estimate(proxy, world=1)
    assert abs(est.total_gib - measured["measured_device_peak_gib"]) <= 0.10 * measured["measured_device_peak_gib"]
    assert abs(est.allocated_gib - measured["max_allocated_gib"]) <= 0.05 * measured["max_allocated_gib"]
    assert abs(est.reserved_gib - measured["max_reserved_gib"]) <= 0.05 * measured["max_reserved_gib"]


def test_the_vocabulary_sized_terms_by_hand(proxy):
    """One micro-batch of 4096 tokens over the 262,208-row vocabulary, TP1: bf16 logits and their fp32 copy
    (6 B an element), the fp32 gradient and its bf16 cast (6 B), and as much again held free by the allocator."""
    est = memory.estimate(proxy, world=1)
    elements = 4096 * 262208
    assert est.logits_gib == pytest.approx(elements * 6 / GIB)
    assert est.logits_grad_gib == pytest.approx(elements * 6 / GIB)
    assert est.allocator_reserve_gib == pytest.approx(elements * 12 / GIB)
    # the model state: 4 layers of 412,898,560 parameters and the embedding,
    # x (2 bf16 weights + 4 fp32 gradients + 12 fp32 master and Adam)
    state = est.weights_gib + est.grads_gib + est.optimizer_gib
    assert state == pytest.approx((4 * 412_898_560 + 262208 * 5376) * 18 / GIB)  # 4 layers + the tied embedding
    assert est.total_gib == pytest.approx(state + est.activations_gib + 4 * elements * 6 / GIB + 4.0)
