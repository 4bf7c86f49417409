"""Contrastive losses under DDP: 2 gloo CPU processes give the full-batch loss and gradient."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from zoo.objectives.cross_modal_infonce import CrossModalInfoNCE
from zoo.objectives.distributed_gather import gather_no_grad, gather_with_grad
from zoo.objectives.hard_negative_contrastive import HardNegativeContrastiveLoss

WORLD = 2
LOSSES = {
    "infonce": lambda: CrossModalInfoNCE(temperature=0.2),
    "hard_negative": lambda: HardNegativeContrastiveLoss(temperature=0.2, beta=1.0, tau_plus=0.1),
    "hard_negative_labels": lambda: HardNegativeContrastiveLoss(temperature=0.2, beta=1.0, tau_plus=0.0, use_labels=True),
}


def _data():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(8, 5, generator=g), torch.randn(8, 5, generator=g)
    return a, b, torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])


def _worker(rank: int, port: int, queue) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        a, b, labels = _data()
        half = slice(rank * 4, rank * 4 + 4)
        assert torch.equal(gather_no_grad(labels[half]), labels)
        out = {}
        for name, make in LOSSES.items():
            za = a[half].clone().requires_grad_(True)
            zb = b[half].clone().requires_grad_(True)
            loss = make()(za, zb, labels[half])
            loss.backward()
            out[name] = (float(loss), za.grad.tolist(), zb.grad.tolist())  # plain lists: no shared memory
        za = a[half].clone().requires_grad_(True)
        gather_with_grad(za).pow(2).sum().backward()
        out["gather_grad"] = za.grad.tolist()
        queue.put((rank, out))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ddp_results():
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(r, PORT, queue)) for r in range(WORLD)]
    for p in procs:
        p.start()
    results = dict(queue.get(timeout=300) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return results


PORT = _free_port()


@pytest.mark.parametrize("name", list(LOSSES))
def test_ddp_loss_and_gradient_match_full_batch(ddp_results, name):
    a, b, labels = _data()
    za, zb = a.clone().requires_grad_(True), b.clone().requires_grad_(True)
    full = LOSSES[name]()(za, zb, labels)
    full.backward()
    losses = [ddp_results[r][name][0] for r in range(WORLD)]
    # each process averages over its own anchors: the mean over processes is the full-batch loss
    assert sum(losses) / WORLD == pytest.approx(float(full), rel=1e-5)
    # all_gather's backward sums every process's gradient into each slice; DDP then divides by WORLD
    grad_a = torch.tensor([g for r in range(WORLD) for g in ddp_results[r][name][1]]) / WORLD
    grad_b = torch.tensor([g for r in range(WORLD) for g in ddp_results[r][name][2]]) / WORLD
    assert torch.allclose(grad_a, za.grad, atol=1e-6) and torch.allclose(grad_b, zb.grad, atol=1e-6)


def test_gather_with_grad_sums_gradients(ddp_results):
    a, _, _ = _data()
    for r in range(WORLD):
        # d/dx of sum over both processes' gathered copies of x^2 = WORLD * 2x
        assert torch.allclose(torch.tensor(ddp_results[r]["gather_grad"]), WORLD * 2 * a[r * 4:(r + 1) * 4])
