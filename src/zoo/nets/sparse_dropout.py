r"""Dropout of sparse input features that draws only for the non-zero entries.

Bag-of-words features such as Cora's (2,708 x 1,433, 1.3% non-zero) make ``F.dropout`` on the
input the most expensive op of a full-batch step: it draws one random number per entry. A zero
stays zero whether it is dropped or kept, so drawing only for the non-zeros gives exactly the same
distribution: each entry is kept with probability :math:`1 - p` and scaled by :math:`1 / (1 - p)`,

.. math::
    \tilde x_{ij} = \frac{m_{ij}}{1 - p}\, x_{ij}, \qquad m_{ij} \sim \mathrm{Bernoulli}(1 - p),

with the :math:`m_{ij}` of zero entries never drawn. The positions of the non-zeros are found once
per feature tensor and reused while the same tensor (same version) comes back; the draws come from
the global torch RNG, as ``F.dropout``'s do.
"""

from __future__ import annotations

import weakref

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo.nets.neighbor_sampling import tensor_version

__all__ = ["sparse_input_dropout", "MAX_DENSITY"]

MAX_DENSITY = 0.25  # above this fraction of non-zeros the dense F.dropout is as cheap

# the last feature tensor seen: (weak reference, version, shape, flat indices of its non-zeros or None)
_LAST: list = [None]


def _nonzero_positions(x: Tensor):
    last = _LAST[0]
    version = tensor_version(x)
    if last is not None and version is not None:
        ref, cached_version, shape, positions = last
        if ref() is x and version == cached_version and x.shape == shape:
            return positions
    flat = x.detach().reshape(-1)
    count = int(torch.count_nonzero(flat))
    positions = flat.nonzero().squeeze(1) if count <= MAX_DENSITY * flat.numel() else None
    _LAST[0] = (weakref.ref(x), version, x.shape, positions) if version is not None else None
    return positions


def sparse_input_dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    r"""``F.dropout(x, p, training)`` in distribution, drawing only for the non-zero entries of ``x``.

    Falls back to ``F.dropout`` when more than :data:`MAX_DENSITY` of the entries are non-zero.
    Gradients flow to ``x`` as through ``F.dropout``.

    Args:
        x: input features, any shape.
        p: drop probability in ``[0, 1)``.
        training: apply dropout (``False`` returns ``x`` itself).
    """
    if not training or p == 0.0:
        return x
    if not 0.0 <= p < 1.0:
        raise ValueError(f"p={p}; expected a drop probability in [0, 1)")
    positions = _nonzero_positions(x)
    if positions is None:
        return F.dropout(x, p=p, training=True)
    keep = torch.empty(positions.numel(), dtype=x.dtype, device=x.device).bernoulli_(1.0 - p)
    values = x.reshape(-1)[positions] * keep * (1.0 / (1.0 - p))
    return x.new_zeros(x.numel()).index_copy(0, positions, values).view_as(x)
