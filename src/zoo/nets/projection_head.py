"""MLP projection head for contrastive learning.

"A Simple Framework for Contrastive Learning of Visual Representations" (SimCLR, Chen et al.,
2020), https://arxiv.org/abs/2002.05709: the contrastive loss is computed on
:math:`z = W_2\\,\\mathrm{ReLU}(\\mathrm{BN}(W_1 h))` while the encoder output :math:`h` is what
downstream tasks use. CMC-CMKM uses hidden 256, output 128.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["ProjectionHead"]


class ProjectionHead(nn.Module):
    """Two-layer MLP ``in_features -> hidden_features -> out_features``.

    Args:
        in_features (int): encoder feature size.
        hidden_features (int, optional): hidden width (default: ``256``).
        out_features (int, optional): projection size (default: ``128``).
        batch_norm (bool, optional): batch norm after the first layer (default: ``True``).

    Shapes:
        - **input:** :math:`(B, \\text{in\\_features})`
        - **output:** :math:`(B, \\text{out\\_features})`
    """

    def __init__(
        self, *, in_features: int, hidden_features: int = 256, out_features: int = 128, batch_norm: bool = True
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.hidden_features = hidden_features
        self.out_features = out_features
        self.batch_norm = batch_norm
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.bn = nn.BatchNorm1d(hidden_features) if batch_norm else None
        self.fc2 = nn.Linear(hidden_features, out_features)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.fc1.reset_parameters()
        self.fc2.reset_parameters()
        if self.bn is not None:
            self.bn.reset_parameters()

    def forward(self, h: Tensor) -> Tensor:
        h = self.fc1(h)
        if self.bn is not None:
            h = self.bn(h)
        return self.fc2(h.relu())

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_features}, {self.hidden_features}, {self.out_features})"
