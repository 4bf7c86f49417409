"""Gather tensors from every DDP process, keeping gradients for the local slice.

Contrastive losses need the negatives of the whole global batch. ``torch.distributed.nn``'s
``all_gather`` back-propagates by summing the gradients of every process into each slice; with
the usual DDP gradient averaging this yields the gradient of the mean of the per-process losses.
Outside an initialised process group (or with one process) both functions return the input.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["gather_with_grad", "gather_no_grad", "world_info"]


def world_info() -> tuple[int, int]:
    """``(rank, world_size)`` of the default process group, ``(0, 1)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_with_grad(x: Tensor) -> Tensor:
    """Concatenate ``x`` (same shape on every process) along dim 0, differentiably."""
    rank, world = world_info()
    if world == 1:
        return x
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(x.contiguous()), dim=0)


@torch.no_grad()
def gather_no_grad(x: Tensor) -> Tensor:
    """Concatenate ``x`` (same shape on every process) along dim 0, without gradients."""
    rank, world = world_info()
    if world == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(world)]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts, dim=0)
