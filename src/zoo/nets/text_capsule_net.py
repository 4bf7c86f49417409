"""Capsule network for text classification.

"Investigating Capsule Networks with Dynamic Routing for Text Classification" (Zhao et al.,
EMNLP 2018), https://arxiv.org/abs/1804.00538, with the routing of "Dynamic Routing Between
Capsules" (Sabour et al., 2017), https://arxiv.org/abs/1710.09829; the per-domain network of the
weighted capsule ensemble (https://arxiv.org/abs/2306.17068).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.nets.dynamic_routing import DynamicRouting, squash

__all__ = ["TextCapsuleNet", "ENCODERS"]

ENCODERS = ("conv", "gru")


class TextCapsuleNet(nn.Module):
    r"""Embedding -> n-gram features -> primary capsules -> dynamic routing -> class capsules.

    .. math::
        \mathbf{h}_t = \operatorname{ReLU}(\operatorname{Conv}_k(\mathbf{E}\,x)_t)
            \;\text{(or a BiGRU)}, \qquad
        \mathbf{u}_{t,k} = \operatorname{squash}(\mathbf{P}_k \mathbf{h}_t), \qquad
        \hat{\mathbf{u}}_{j|t,k} = \mathbf{W}_{k,j}\,\mathbf{u}_{t,k}

    Features are max-pooled over windows of ``pool`` positions; every pooled position holds
    ``num_primary_caps`` primary capsules of size ``primary_dim``; the transformation
    :math:`\mathbf{W}_{k,j}` is shared across positions (so any text length works), and
    :class:`~zoo.nets.dynamic_routing.DynamicRouting` routes the :math:`\hat{\mathbf{u}}` to one
    capsule per class. The output is the class capsules' lengths
    :math:`\lVert\mathbf{v}_j\rVert \in [0, 1)`.

    Args:
        vocab_size: embedding rows (id 0 is padding).
        num_classes: class capsules.
        embed_dim: embedding size (default: ``128``).
        encoder: ``conv`` or ``gru`` (bidirectional) feature extractor (default: ``conv``).
        hidden_dim: feature channels (default: ``128``).
        kernel_size: convolution width (default: ``3``).
        pool: max-pool window over positions before the primary capsules (default: ``2``).
        num_primary_caps: primary capsule types per position (default: ``8``).
        primary_dim: primary capsule size (default: ``8``).
        class_dim: class capsule size (default: ``16``).
        routing_iterations: dynamic routing iterations (default: ``3``).
        routing_normalise: how routing scales the summed predictions (``sum``, ``sqrt``, ``mean``;
            default: ``sqrt``), see :class:`~zoo.nets.dynamic_routing.DynamicRouting`.
        dropout: on embeddings and features (default: ``0.2``).
        pretrained_path: a ``.pt`` file with a ``(vocab_size, embed_dim)`` table to start the
            embeddings from (the datamodule's ``pretrained_embeddings_path``; default: ``None``).
        freeze_embeddings: keep pretrained embeddings fixed (default: ``False``).

    Shapes:
        - input: ``input_ids`` ``(B, L)`` (0 = padding).
        - output: class capsule lengths ``(B, num_classes)``; :meth:`capsules` also returns the
          class capsules ``(B, num_classes, class_dim)`` and the coupling coefficients.
    """

    def __init__(
        self,
        *,
        vocab_size: int,
        num_classes: int,
        embed_dim: int = 128,
        encoder: str = "conv",
        hidden_dim: int = 128,
        kernel_size: int = 3,
        pool: int = 2,
        num_primary_caps: int = 8,
        primary_dim: int = 8,
        class_dim: int = 16,
        routing_iterations: int = 3,
        routing_normalise: str = "sqrt",
        dropout: float = 0.2,
        pretrained_path: Optional[str] = None,
        freeze_embeddings: bool = False,
    ) -> None:
        super().__init__()
        if encoder not in ENCODERS:
            raise ValueError(f"model.net.encoder={encoder!r}; expected one of {list(ENCODERS)}")
        for key, value in (("vocab_size", vocab_size), ("num_classes", num_classes), ("pool", pool),
                           ("kernel_size", kernel_size), ("num_primary_caps", num_primary_caps)):
            if value < 1:
                raise ValueError(f"model.net.{key}={value}; expected an integer >= 1")
        self.vocab_size = vocab_size
        self.num_classes = num_classes
        self.embed_dim = embed_dim
        self.encoder = encoder
        self.hidden_dim = hidden_dim
        self.kernel_size = kernel_size
        self.pool = pool
        self.num_primary_caps = num_primary_caps
        self.primary_dim = primary_dim
        self.class_dim = class_dim
        self.routing_iterations = routing_iterations
        self.routing_normalise = routing_normalise
        self.dropout = dropout
        self.pretrained_path = pretrained_path
        self.freeze_embeddings = freeze_embeddings

        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        if encoder == "conv":
            self.features = nn.Conv1d(embed_dim, hidden_dim, kernel_size, padding=kernel_size // 2)
        else:
            self.features = nn.GRU(embed_dim, hidden_dim // 2, batch_first=True, bidirectional=True)
        self.primary = nn.Linear(hidden_dim, num_primary_caps * primary_dim)
        self.weight = nn.Parameter(torch.empty(num_primary_caps, num_classes, class_dim, primary_dim))
        self.routing = DynamicRouting(iterations=routing_iterations, normalise=routing_normalise)
        self.drop = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=0.1)
        with torch.no_grad():
            if self.pretrained_path is not None:
                try:  # a plain tensor file: nothing in it is unpickled as code
                    table = torch.load(self.pretrained_path, map_location="cpu", weights_only=True)
                except Exception as err:  # noqa: BLE001 - torch raises several kinds for bad files
                    raise ValueError(
                        f"model.net.pretrained_path={self.pretrained_path!r} cannot be read as a tensor file "
                        f"with torch.load(weights_only=True): {type(err).__name__}: {str(err)[:300]}"
                    ) from err
                if not isinstance(table, torch.Tensor):
                    raise ValueError(f"model.net.pretrained_path={self.pretrained_path!r} holds a "
                                     f"{type(table).__name__}, not a (vocab_size, embed_dim) tensor")
                if tuple(table.shape) != tuple(self.embedding.weight.shape):
                    raise ValueError(
                        f"model.net.pretrained_path={self.pretrained_path!r} holds a {tuple(table.shape)} "
                        f"table; expected (vocab_size, embed_dim) = {tuple(self.embedding.weight.shape)}"
                    )
                self.embedding.weight.copy_(table)
            self.embedding.weight[0].zero_()
        self.embedding.weight.requires_grad_(not (self.freeze_embeddings and self.pretrained_path is not None))
        self.features.reset_parameters()
        self.primary.reset_parameters()
        nn.init.normal_(self.weight, std=0.5)

    def capsules(self, input_ids: Tensor) -> tuple[Tensor, Tensor]:
        """Class capsules ``(B, C, class_dim)`` and coupling coefficients ``(B, N_in, C)``."""
        mask = input_ids != 0
        x = self.drop(self.embedding(input_ids))  # (B, L, E)
        if self.encoder == "conv":
            h = F.relu(self.features(x.transpose(1, 2))[..., : input_ids.size(1)]).transpose(1, 2)
        else:
            h, _ = self.features(x)
        h = self.drop(h) * mask.unsqueeze(-1)
        if self.pool > 1:
            length = h.size(1)
            pad = (-length) % self.pool
            h = F.pad(h, (0, 0, 0, pad))
            mask = F.pad(mask, (0, pad))
            h = h.view(h.size(0), -1, self.pool, h.size(-1)).amax(dim=2)
            mask = mask.view(mask.size(0), -1, self.pool).any(dim=2)
        batch, positions, _ = h.shape
        u = squash(self.primary(h).view(batch, positions, self.num_primary_caps, self.primary_dim))
        # u_hat[b, t, k, j] = W[k, j] u[b, t, k]
        u_hat = torch.einsum("kjod,btkd->btkjo", self.weight, u)
        u_hat = u_hat.reshape(batch, positions * self.num_primary_caps, self.num_classes, self.class_dim)
        caps_mask = mask.unsqueeze(-1).expand(batch, positions, self.num_primary_caps).reshape(batch, -1)
        return self.routing(u_hat, caps_mask)

    def forward(self, input_ids: Tensor) -> Tensor:
        v, _ = self.capsules(input_ids)
        return torch.sqrt((v * v).sum(dim=-1) + 1e-12)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(vocab={self.vocab_size}, classes={self.num_classes}, "
                f"encoder={self.encoder}, routing_iterations={self.routing_iterations})")
