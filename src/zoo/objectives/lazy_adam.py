"""Lazy (row-wise) Adam for embedding tables with sparse gradients, as ``torch.optim.SparseAdam``."""

from __future__ import annotations

import math
from typing import Iterable

import torch
from torch import Tensor

__all__ = ["LazyAdam"]


class LazyAdam(torch.optim.Optimizer):
    r"""Adam ("Adam: A Method for Stochastic Optimization", Kingma and Ba, 2015,
    https://arxiv.org/abs/1412.6980) that updates only the rows a sparse gradient touches.

    For a parameter with a sparse (COO, first dimension sparse) gradient, only the rows :math:`i`
    present in the gradient change, with the update of ``torch.optim.SparseAdam``:

    .. math::
        m_i \leftarrow \beta_1 m_i + (1 - \beta_1) g_i, \qquad
        v_i \leftarrow \beta_2 v_i + (1 - \beta_2) g_i^2, \qquad
        \theta_i \leftarrow \theta_i - \eta \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t}
        \frac{m_i}{\sqrt{v_i} + \epsilon}

    with :math:`t` the number of steps taken (rows that are not touched keep their moments: the
    "lazy" Adam of TensorFlow's ``LazyAdamOptimizer``). A parameter with a dense gradient gets the
    same formula on every row, so one optimiser serves a sparse entity table and a dense relation
    table. Unlike ``SparseAdam``, dense gradients are accepted, so the knowledge-graph task can hand
    it every parameter. A KGE net produces sparse entity gradients with ``sparse=True``.

    Args:
        params: parameters or parameter groups.
        lr: learning rate :math:`\eta` (default: ``1e-3``).
        betas: :math:`(\beta_1, \beta_2)` (default: ``(0.9, 0.999)``).
        eps: :math:`\epsilon` (default: ``1e-8``).
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        if not lr > 0:
            raise ValueError(f"model.optimizer.lr={lr}; expected > 0")
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"model.optimizer.betas={tuple(betas)}; expected both in [0, 1)")
        if not eps > 0:
            raise ValueError(f"model.optimizer.eps={eps}; expected > 0")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    # first and second moments side by side, so a row's pair is gathered and written in one op
                    state["step"] = 0
                    state["moments"] = p.new_zeros(p.size(0), 2, *p.shape[1:])
                state["step"] += 1
                t = state["step"]
                step_size = group["lr"] * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
                if p.grad.is_sparse:
                    self._sparse_update(p, p.grad, state, beta1, beta2, group["eps"], step_size)
                else:
                    grad, moments = p.grad, state["moments"]
                    exp_avg, exp_avg_sq = moments[:, 0], moments[:, 1]
                    exp_avg.lerp_(grad, 1 - beta1)
                    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                    p.addcdiv_(exp_avg, exp_avg_sq.sqrt().add_(group["eps"]), value=-step_size)
        return loss

    @staticmethod
    def _sparse_update(p: Tensor, grad: Tensor, state: dict, beta1: float, beta2: float, eps: float,
                       step_size: float) -> None:
        grad = grad.coalesce()  # one row per index, duplicates summed
        if grad.sparse_dim() != 1:
            raise ValueError(f"LazyAdam: a sparse gradient of shape {tuple(grad.shape)} with {grad.sparse_dim()} "
                             "sparse dimensions; expected rows (sparse_dim 1)")
        rows, values = grad.indices()[0], grad.values()
        moments = state["moments"].index_select(0, rows)
        exp_avg, exp_avg_sq = moments[:, 0], moments[:, 1]
        exp_avg.lerp_(values, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(values, values, value=1 - beta2)
        state["moments"].index_copy_(0, rows, moments)
        p.index_add_(0, rows, exp_avg / exp_avg_sq.sqrt().add_(eps), alpha=-step_size)

    def exp_avg(self, p: Tensor) -> Tensor:
        """The first-moment estimate of ``p`` (zeros before its first step)."""
        state = self.state.get(p)
        return torch.zeros_like(p) if not state else state["moments"][:, 0]
