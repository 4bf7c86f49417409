"""The known true triples of filtered link-prediction evaluation, as a vectorised lookup."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["FilterIndex"]


class FilterIndex(nn.Module):
    """For a batch of queries ``(h, r, ?)`` or ``(?, r, t)``, the ``(B, |E|)`` mask of every entity
    that completes a known triple ("filtered" setting of Bordes et al., 2013).

    Known triples are sorted by the key of the fixed pair; a batch's answers are gathered with two
    ``searchsorted`` calls and one ``repeat_interleave``, without a Python loop over queries.

    Args:
        triples: every known true triple ``(n, 3)`` (train, valid and test).
        num_entities: :math:`|E|`.
        num_relations: :math:`|R|`.
    """

    def __init__(self, triples: Tensor, num_entities: int, num_relations: int) -> None:
        super().__init__()
        self.num_entities = int(num_entities)
        self.num_relations = int(num_relations)
        triples = torch.unique(triples[:, :3].long(), dim=0)
        h, r, t = triples.unbind(1)
        for side, key, answer in (("tail", h * num_relations + r, t), ("head", t * num_relations + r, h)):
            order = torch.argsort(key)
            self.register_buffer(f"{side}_keys", key[order], persistent=False)
            self.register_buffer(f"{side}_answers", answer[order], persistent=False)

    def mask(self, fixed: Tensor, relation: Tensor, side: str) -> Tensor:
        """``(B, |E|)`` bool: entity ``e`` is a known answer of the query.

        :param fixed: the given entity (the head when ``side="tail"``, the tail when ``side="head"``).
        :param side: which side is predicted: ``"head"`` or ``"tail"``.
        """
        if side not in ("head", "tail"):
            raise ValueError(f"side={side!r}; expected one of ['head', 'tail']")
        keys, answers = getattr(self, f"{side}_keys"), getattr(self, f"{side}_answers")
        query = fixed.long() * self.num_relations + relation.long()
        start = torch.searchsorted(keys, query)
        count = torch.searchsorted(keys, query, right=True) - start
        row = torch.repeat_interleave(torch.arange(len(query), device=query.device), count)
        first = torch.cumsum(count, 0) - count
        position = start[row] + torch.arange(len(row), device=query.device) - first[row]
        out = torch.zeros(len(query), self.num_entities, dtype=torch.bool, device=query.device)
        out[row, answers[position]] = True
        return out
