"""Any classifier of the timm registry, built by name ("PyTorch Image Models", Wightman, 2019,
https://github.com/huggingface/pytorch-image-models)."""

from __future__ import annotations

import timm
from torch import Tensor, nn

__all__ = ["TimmNet"]


class TimmNet(nn.Module):
    r"""``timm.create_model(model_name, num_classes=..., in_chans=...)`` behind the zoo's net interface.

    Args:
        model_name: a name from ``timm.list_models()`` (e.g. ``resnet18``, ``vit_tiny_patch16_224``).
        num_classes: output logits.
        in_channels: image channels (default: ``3``).
        pretrained: load timm's pretrained weights (needs the weights cached or internet)
            (default: ``False``).
        drop_rate: classifier dropout (default: ``0.0``).

    Shapes:
        ``(N, in_channels, H, W) -> (N, num_classes)``.
    """

    def __init__(
        self,
        *,
        model_name: str,
        num_classes: int,
        in_channels: int = 3,
        pretrained: bool = False,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if model_name not in timm.list_models():
            close = timm.list_models(f"*{model_name.split('_')[0]}*")[:20]
            raise ValueError(f"model_name={model_name!r} is not a timm model; similar names: {close}")
        self.model_name = model_name
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.model = timm.create_model(
            model_name, pretrained=pretrained, num_classes=num_classes, in_chans=in_channels, drop_rate=drop_rate
        )

    def reset_parameters(self) -> None:
        self.model.reset_classifier(self.num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model_name!r}, num_classes={self.num_classes})"
