"""LazyAdam: torch.optim.SparseAdam's update on sparse gradients, the same formula on dense ones."""

from __future__ import annotations

import pytest
import torch

from zoo.objectives.lazy_adam import LazyAdam


def sparse_grad(rows, values, shape):
    return torch.sparse_coo_tensor(torch.tensor([rows]), values, shape)


def test_sparse_matches_torch_sparse_adam():
    torch.manual_seed(0)
    ours = torch.nn.Parameter(torch.randn(10, 3, 2))
    ref = torch.nn.Parameter(ours.detach().clone())
    opt, ref_opt = LazyAdam([ours], lr=0.1), torch.optim.SparseAdam([ref], lr=0.1)
    untouched = ours.detach()[9].clone()
    for step in range(4):
        rows = [step, 3, 3, 7]  # a repeated row: duplicates are summed
        values = torch.randn(4, 3, 2)
        ours.grad, ref.grad = sparse_grad(rows, values, ours.shape), sparse_grad(rows, values, ref.shape)
        opt.step()
        ref_opt.step()
        torch.testing.assert_close(ours.detach(), ref.detach())
    # a row no gradient touched never moves (lazy: its moments are not decayed either)
    torch.testing.assert_close(ours.detach()[9], untouched)
    torch.testing.assert_close(opt.exp_avg(ours)[9], torch.zeros(3, 2))


def test_dense_gradient_updates_every_row_like_an_all_rows_sparse_one():
    torch.manual_seed(1)
    dense = torch.nn.Parameter(torch.randn(5, 4))
    sparse = torch.nn.Parameter(dense.detach().clone())
    opt_d, opt_s = LazyAdam([dense], lr=0.05), LazyAdam([sparse], lr=0.05)
    for _ in range(3):
        grad = torch.randn(5, 4)
        dense.grad = grad.clone()
        sparse.grad = sparse_grad(list(range(5)), grad.clone(), sparse.shape)
        opt_d.step()
        opt_s.step()
    torch.testing.assert_close(dense.detach(), sparse.detach())


def test_bad_hyperparameters():
    p = [torch.nn.Parameter(torch.zeros(2))]
    with pytest.raises(ValueError, match="lr=0"):
        LazyAdam(p, lr=0)
    with pytest.raises(ValueError, match="betas"):
        LazyAdam(p, betas=(0.9, 1.0))
