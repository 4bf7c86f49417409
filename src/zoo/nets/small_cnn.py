"""A small convolutional classifier for 28x28 grey images (Fashion-MNIST, MNIST).

Two conv-BN-ReLU-pool stages and a two-layer head, in the spirit of the LeNet family
("Gradient-Based Learning Applied to Document Recognition", LeCun et al., 1998); the CPU-sized
net of the zoo's model-update study.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["SmallCNN"]


class SmallCNN(nn.Module):
    r"""``conv(c1)-BN-ReLU-pool -> conv(c2)-BN-ReLU-pool -> flatten -> fc(hidden)-ReLU-dropout -> fc(C)``.

    Args:
        in_channels: image channels.
        num_classes: output logits ``C``.
        image_size: input height = width (default: ``28``).
        channels: ``(c1, c2)`` (default: ``(32, 64)``).
        hidden: width of the hidden fully connected layer (default: ``128``).
        dropout: before the last layer (default: ``0.2``).
        batch_norm: batch norm after each convolution (default: ``True``); ``False`` gives the
            convolutions a bias instead. Without batch norm every sample's output is independent
            of the rest of its batch, so CPU DDP (where ``SyncBatchNorm`` is unavailable) gives
            exactly the 1-process result.

    Shapes:
        ``(N, in_channels, image_size, image_size) -> (N, C)``.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        image_size: int = 28,
        channels: tuple[int, int] = (32, 64),
        hidden: int = 128,
        dropout: float = 0.2,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        if len(channels) != 2:
            raise ValueError(f"channels={channels!r}; expected two widths (c1, c2)")
        if image_size % 4 != 0:
            raise ValueError(f"image_size={image_size!r}; expected a multiple of 4")
        c1, c2 = int(channels[0]), int(channels[1])
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.image_size = image_size
        self.channels = (c1, c2)
        self.hidden = hidden
        self.dropout = dropout
        self.batch_norm = batch_norm

        def norm(c: int) -> nn.Module:
            return nn.BatchNorm2d(c) if batch_norm else nn.Identity()

        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3, padding=1, bias=not batch_norm), norm(c1), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1, bias=not batch_norm), norm(c2), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.num_features = c2 * (image_size // 4) ** 2
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(self.num_features, hidden), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(hidden, num_classes),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.BatchNorm2d, nn.Linear)):
                module.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.in_channels}, {self.num_classes}, channels={self.channels})"
