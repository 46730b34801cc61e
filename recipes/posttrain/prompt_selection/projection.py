"""A seeded Rademacher random projection in torch (Johnson-Lindenstrauss), as LESS uses through TRAK.

LESS projects with trak's CudaProjector (fast_jl kernels, CUDA only) or BasicProjector
(less/data_selection/collect_grad_reps.py at 1e4afda, `get_trak_projector`): entries +-1/sqrt(k), seed 0. Here
the matrix is generated block by block from a generator seeded with (seed, block), so it is never held whole
(11.8M LoRA parameters x 8192 would be 97G entries). The signs are always drawn by the CPU generator and moved to
the gradients' device (CUDA's generator draws other signs), so shards computed on any node, GPU or CPU, and the
target features scored beside them share one projection."""

from __future__ import annotations

from dataclasses import dataclass

BLOCK_ROWS = 16384  # gradient coordinates per generated block of the matrix


@dataclass(frozen=True)
class RademacherProjector:
    grad_dim: int
    proj_dim: int
    seed: int = 0

    def project(self, grads):
        """(batch, grad_dim) float tensor -> (batch, proj_dim) float32: grads @ R, R_ij = +-1/sqrt(proj_dim)."""
        import torch

        if grads.shape[-1] != self.grad_dim:
            raise ValueError(f"gradient has {grads.shape[-1]} entries; the projector was built for {self.grad_dim}")
        grads = grads.to(torch.float32)
        out = torch.zeros(grads.shape[0], self.proj_dim, dtype=torch.float32, device=grads.device)
        generator = torch.Generator()  # the CPU's: the same signs whichever device holds the gradients
        for block, start in enumerate(range(0, self.grad_dim, BLOCK_ROWS)):
            stop = min(start + BLOCK_ROWS, self.grad_dim)
            generator.manual_seed(self.seed * 1_000_003 + block)
            signs = torch.randint(0, 2, (stop - start, self.proj_dim), generator=generator, dtype=torch.int8)
            signs = signs.to(grads.device)
            out += grads[:, start:stop] @ (signs.to(torch.float32) * 2 - 1)
        return (out / self.proj_dim ** 0.5).cpu()
