"""TextCapsuleNet: shapes, capsule lengths in [0, 1), gradients, padding invariance."""

from __future__ import annotations

import pytest
import torch

from zoo.nets.text_capsule_net import TextCapsuleNet


def _net(encoder: str = "conv", **kwargs) -> TextCapsuleNet:
    torch.manual_seed(0)
    return TextCapsuleNet(vocab_size=50, num_classes=3, embed_dim=16, hidden_dim=16, num_primary_caps=4,
                          primary_dim=4, class_dim=8, encoder=encoder, **kwargs)


@pytest.mark.parametrize("encoder", ["conv", "gru"])
def test_forward_shape_range_and_every_parameter_gets_a_gradient(encoder):
    net = _net(encoder)
    ids = torch.randint(1, 50, (6, 11))
    ids[2, 5:] = 0
    lengths = net(ids)
    assert lengths.shape == (6, 3)
    assert bool(torch.isfinite(lengths).all())
    assert bool((lengths >= 0).all()) and bool((lengths < 1).all())
    lengths.sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and bool(torch.isfinite(p.grad).all()), name
        assert float(p.grad.abs().sum()) > 0, name


def test_trailing_padding_does_not_change_the_output():
    net = _net(pool=2).eval()
    ids = torch.randint(1, 50, (3, 9))
    padded = torch.cat([ids, torch.zeros(3, 7, dtype=torch.long)], dim=1)
    torch.testing.assert_close(net(ids), net(padded), rtol=1e-5, atol=1e-6)


def test_single_token_text_and_repr():
    net = _net()
    assert net(torch.tensor([[5]])).shape == (1, 3)
    assert "TextCapsuleNet(vocab=50, classes=3" in repr(net)


def test_bad_encoder_names_choices():
    with pytest.raises(ValueError, match=r"encoder='lstm'.*conv"):
        TextCapsuleNet(vocab_size=10, num_classes=2, encoder="lstm")
