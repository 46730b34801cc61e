"""A seeded sparse Johnson-Lindenstrauss projection in torch, drawn once and reused for every batch.

LESS projects with trak's CudaProjector (fast_jl kernels, CUDA only) or BasicProjector
(less/data_selection/collect_grad_reps.py at 1e4afda, `get_trak_projector`): a dense +-1/sqrt(k) matrix, which
costs grad_dim x proj_dim multiply-adds per example and, held whole, 97G entries for the 270M at LESS's settings
(11.8M LoRA parameters x 8192); drawing it again per batch took about an hour per 16 examples on CPU. Here each
gradient coordinate goes to NONZEROS output coordinates, one in each of NONZEROS equal chunks of the output, with a
random sign, scaled by 1/sqrt(NONZEROS) (Kane and Nelson's block construction, "Sparser Johnson-Lindenstrauss
transforms", J. ACM 2014): inner products are kept in expectation with the dense matrix's variance, at
grad_dim x NONZEROS adds per example, and the matrix (an index and a sign per nonzero) is small enough to keep.

It is drawn block by block by the CPU's generator seeded with (seed, block) and moved to the gradients' device
once, so shards computed on any node, GPU or CPU, and the target features scored beside them share one
projection."""

from __future__ import annotations

BLOCK_ROWS = 1 << 20  # gradient coordinates per seeded block of the matrix (and per index_add_ call)
NONZEROS = 4  # output coordinates per gradient coordinate


class SparseProjector:
    def __init__(self, grad_dim: int, proj_dim: int, seed: int = 0):
        if proj_dim % NONZEROS:
            raise ValueError(f"select.proj_dim={proj_dim}: use a multiple of {NONZEROS} (the projection's chunks)")
        self.grad_dim, self.proj_dim, self.seed = grad_dim, proj_dim, seed
        self._matrix: dict[str, tuple] = {}  # device -> (buckets, signs), each (NONZEROS, grad_dim)

    def matrix(self, device):
        """(buckets int64, signs float32) on `device`, drawn on the first call for that device."""
        import torch

        key = str(device)
        if key not in self._matrix:
            chunk, generator = self.proj_dim // NONZEROS, torch.Generator()  # the CPU's: one matrix on any device
            buckets, signs = [], []
            for block, start in enumerate(range(0, self.grad_dim, BLOCK_ROWS)):
                rows = min(BLOCK_ROWS, self.grad_dim - start)
                generator.manual_seed(self.seed * 1_000_003 + block)
                buckets.append(torch.randint(0, chunk, (NONZEROS, rows), generator=generator))
                signs.append(torch.randint(0, 2, (NONZEROS, rows), generator=generator, dtype=torch.int8))
            self._matrix[key] = (
                torch.cat(buckets, 1).to(device),
                (torch.cat(signs, 1).to(device).to(torch.float32) * 2 - 1) / NONZEROS**0.5,
            )
        return self._matrix[key]

    def project(self, grads):
        """(batch, grad_dim) float tensor -> (batch, proj_dim) float32 on the CPU."""
        import torch

        if grads.shape[-1] != self.grad_dim:
            raise ValueError(f"gradient has {grads.shape[-1]} entries; the projector was built for {self.grad_dim}")
        grads = grads.to(torch.float32)
        buckets, signs = self.matrix(grads.device)
        chunk = self.proj_dim // NONZEROS
        out = torch.zeros(grads.shape[0], self.proj_dim, dtype=torch.float32, device=grads.device)
        for c in range(NONZEROS):
            part = out[:, c * chunk : (c + 1) * chunk]
            for start in range(0, self.grad_dim, BLOCK_ROWS):
                stop = min(start + BLOCK_ROWS, self.grad_dim)
                part.index_add_(1, buckets[c, start:stop], grads[:, start:stop] * signs[c, start:stop])
        return out.cpu()
