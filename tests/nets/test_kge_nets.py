"""KGE scoring functions: one generic test per interface, plus each model's known identities."""

from __future__ import annotations

import math

import pytest
import torch

from zoo.nets.complex import ComplEx
from zoo.nets.distmult import DistMult
from zoo.nets.kge_model import KGEModel
from zoo.nets.rotate import RotatE
from zoo.nets.transe import TransE

E, R, D = 23, 5, 8
MODELS = {
    "transe_l1": lambda: TransE(num_entities=E, num_relations=R, embedding_dim=D, p_norm=1),
    "transe_l2": lambda: TransE(num_entities=E, num_relations=R, embedding_dim=D, p_norm=2),
    "distmult": lambda: DistMult(num_entities=E, num_relations=R, embedding_dim=D),
    "complex": lambda: ComplEx(num_entities=E, num_relations=R, embedding_dim=D),
    "rotate_l1": lambda: RotatE(num_entities=E, num_relations=R, embedding_dim=D, p_norm=1, chunk_size=5),
    "rotate_l2": lambda: RotatE(num_entities=E, num_relations=R, embedding_dim=D, p_norm=2),
}


def test_every_model_is_tested():
    """Meta test: every KGEModel subclass in zoo.nets appears in MODELS."""
    import zoo.nets.complex, zoo.nets.distmult, zoo.nets.rotate, zoo.nets.transe  # noqa: E401,F401

    tested = {type(factory()).__name__ for factory in MODELS.values()}
    assert {cls.__name__ for cls in KGEModel.__subclasses__()} <= tested


@pytest.mark.parametrize("name", sorted(MODELS))
def test_interface(name):
    torch.manual_seed(0)
    model = MODELS[name]()
    h, r, t = torch.randint(E, (7,)), torch.randint(R, (7,)), torch.randint(E, (7,))
    scores = model(h, r, t)
    assert scores.shape == (7,) and torch.isfinite(scores).all()
    # broadcasting: (B, 1) against (B, N)
    many = model(h.unsqueeze(1), r.unsqueeze(1), torch.randint(E, (7, 4)))
    assert many.shape == (7, 4)
    # scoring all entities equals scoring each triple
    all_t, all_h = model.score_tails(h, r), model.score_heads(r, t)
    assert all_t.shape == all_h.shape == (7, E)
    ent = torch.arange(E)
    torch.testing.assert_close(all_t, model(h.unsqueeze(1), r.unsqueeze(1), ent.unsqueeze(0)), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(all_h, model(ent.unsqueeze(0), r.unsqueeze(1), t.unsqueeze(1)), atol=1e-4, rtol=1e-4)
    # every parameter gets a gradient
    scores.sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    assert repr(model).startswith(type(model).__name__ + f"(num_entities={E}")


def test_rotate_zero_phase_is_identity_translation():
    """RotatE with zero phase: h o 1 = h, so f(h, r, t) = -||h - t|| and f(h, r, h) = 0."""
    model = RotatE(num_entities=E, num_relations=R, embedding_dim=D, p_norm=2)
    with torch.no_grad():
        model.relation_embedding.zero_()
    h, t, r = torch.arange(5), torch.arange(5, 10), torch.zeros(5, dtype=torch.long)
    diff = model.entity_embedding[h] - model.entity_embedding[t]
    torch.testing.assert_close(model(h, r, t), -diff.flatten(1).norm(dim=1))
    assert model(h, r, h).abs().max() < 1e-5


def test_rotate_pi_phase_negates_and_norm_is_preserved():
    model = RotatE(num_entities=E, num_relations=R, embedding_dim=D, p_norm=1)
    with torch.no_grad():
        model.relation_embedding.fill_(math.pi)
    h = torch.arange(4)
    rotated = RotatE.rotate(model.entity(h), model.relation(torch.zeros(4, dtype=torch.long)))
    torch.testing.assert_close(rotated, -model.entity(h), atol=1e-6, rtol=0)
    # p_norm=1 is the sum of complex moduli
    e = model.entity_embedding
    expected = -(e[0] + e[1]).norm(dim=-1).sum()
    torch.testing.assert_close(model(torch.tensor(0), torch.tensor(0), torch.tensor(1)), expected.detach(), atol=1e-5, rtol=1e-5)


def test_transe_translation_identity():
    """If t = h + r then the TransE score is 0, the maximum."""
    model = TransE(num_entities=E, num_relations=R, embedding_dim=D, normalize_entities=False)
    with torch.no_grad():
        model.entity_embedding[1] = model.entity_embedding[0] + model.relation_embedding[2]
    s = model.score_tails(torch.tensor([0]), torch.tensor([2]))
    assert s[0, 1].abs() < 1e-5 and int(s.argmax()) == 1


def test_transe_normalizes_entities():
    model = TransE(num_entities=E, num_relations=R, embedding_dim=D)
    with torch.no_grad():
        model.entity_embedding.mul_(3)
    model.post_update_()
    torch.testing.assert_close(model.entity_embedding.norm(dim=1), torch.ones(E))


def test_distmult_is_symmetric():
    model = DistMult(num_entities=E, num_relations=R, embedding_dim=D)
    h, r, t = torch.randint(E, (9,)), torch.randint(R, (9,)), torch.randint(E, (9,))
    torch.testing.assert_close(model(h, r, t), model(t, r, h))


def test_complex_with_real_embeddings_equals_distmult_and_imaginary_relation_is_antisymmetric():
    cx = ComplEx(num_entities=E, num_relations=R, embedding_dim=D)
    dm = DistMult(num_entities=E, num_relations=R, embedding_dim=D)
    with torch.no_grad():
        cx.entity_embedding[..., 1] = 0
        cx.relation_embedding[..., 1] = 0
        dm.entity_embedding.copy_(cx.entity_embedding[..., 0])
        dm.relation_embedding.copy_(cx.relation_embedding[..., 0])
    h, r, t = torch.randint(E, (9,)), torch.randint(R, (9,)), torch.randint(E, (9,))
    torch.testing.assert_close(cx(h, r, t), dm(h, r, t))
    cx.reset_parameters()
    with torch.no_grad():
        cx.relation_embedding[..., 0] = 0  # purely imaginary relation: f(h, r, t) = -f(t, r, h)
    torch.testing.assert_close(cx(h, r, t), -cx(t, r, h))


@pytest.mark.parametrize("key,value", [("embedding_dim", 0), ("num_entities", -1)])
def test_bad_sizes(key, value):
    kwargs = dict(num_entities=E, num_relations=R, embedding_dim=D)
    kwargs[key] = value
    with pytest.raises(ValueError, match=key):
        DistMult(**kwargs)


def test_bad_p_norm():
    with pytest.raises(ValueError, match="p_norm=3"):
        RotatE(num_entities=E, num_relations=R, embedding_dim=D, p_norm=3)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_score_slcwa_equals_scoring_each_triple(name):
    """The training fast path (one query per positive, RotatE/TransE) gives the scores and the
    gradients of scoring every corrupted triple with forward()."""
    torch.manual_seed(1)
    model = MODELS[name]()
    positive = torch.stack([torch.randint(E, (6,)), torch.randint(R, (6,)), torch.randint(E, (6,))], dim=1)
    negatives = positive.unsqueeze(1).repeat(1, 5, 1)
    head = torch.rand(6, 5) < 0.5
    other = (negatives[..., 0] + 1 + torch.randint(E - 1, (6, 5))) % E  # never the original head
    negatives[..., 0] = torch.where(head, other, negatives[..., 0])
    negatives[..., 2] = torch.where(head, negatives[..., 2], (negatives[..., 2] + 1 + torch.randint(E - 1, (6, 5))) % E)
    pos, neg = model.score_slcwa(positive, negatives)
    (pos.sum() + neg.square().sum()).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    ref_pos = model(positive[:, 0], positive[:, 1], positive[:, 2])
    ref_neg = model(negatives[..., 0], positive[:, 1:2], negatives[..., 2])
    (ref_pos.sum() + ref_neg.square().sum()).backward()
    torch.testing.assert_close(pos, ref_pos, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(neg, ref_neg, atol=1e-5, rtol=1e-5)
    for grad, p in zip(grads, model.parameters()):
        torch.testing.assert_close(grad, p.grad, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_sparse_gradient_equals_dense(name):
    """sparse=True: the entity table's gradient is a sparse tensor over the touched rows only, equal to
    the dense gradient once densified; the relation table's stays dense."""
    torch.manual_seed(2)
    dense, sparse = MODELS[name](), MODELS[name]()
    sparse.load_state_dict(dense.state_dict())
    sparse.sparse = True
    positive = torch.stack([torch.randint(E, (6,)), torch.randint(R, (6,)), torch.randint(E, (6,))], dim=1)
    negatives = positive.unsqueeze(1).repeat(1, 5, 1)
    negatives[:, :, 2] = torch.randint(E, (6, 5))
    for model in (dense, sparse):
        pos, neg = model.score_slcwa(positive, negatives)
        (pos.sum() + neg.square().sum()).backward()
    grad = sparse.entity_embedding.grad
    assert grad.is_sparse and not dense.entity_embedding.grad.is_sparse
    touched = torch.unique(torch.cat([positive[:, 0], positive[:, 2], negatives[..., 2].reshape(-1)]))
    assert set(grad.coalesce().indices()[0].tolist()) <= set(touched.tolist())
    torch.testing.assert_close(grad.to_dense(), dense.entity_embedding.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sparse.relation_embedding.grad, dense.relation_embedding.grad, atol=1e-5, rtol=1e-5)
