"""Focal distillation weights (alpha + beta on teacher-correct samples) and its two forms."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zoo.objectives.focal_distillation import FocalDistillation


def test_weights_are_alpha_plus_beta_on_teacher_correct_samples():
    teacher = torch.tensor([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0]])
    target = torch.tensor([0, 2, 2])  # teacher right, wrong, right
    fd = FocalDistillation(alpha=1.0, beta=5.0)
    assert fd.weights(teacher, target).tolist() == [6.0, 1.0, 6.0]


def test_kl_matches_hand_computation():
    torch.manual_seed(0)
    student, teacher = torch.randn(4, 3), torch.randn(4, 3)
    target = teacher.argmax(-1).clone()
    target[1] = (target[1] + 1) % 3  # teacher wrong on sample 1
    t = 5.0
    p = F.softmax(teacher / t, -1)
    kl = (p * (p.log() - F.log_softmax(student / t, -1))).sum(-1)
    w = torch.tensor([6.0, 1.0, 6.0, 6.0])
    expected = (w * kl).mean()
    fd = FocalDistillation(alpha=1.0, beta=5.0, temperature=t)
    assert float(fd(student, teacher, target)) == pytest.approx(float(expected), rel=1e-5)
    fd_t2 = FocalDistillation(alpha=1.0, beta=5.0, temperature=t, temperature_squared=True)
    assert float(fd_t2(student, teacher, target)) == pytest.approx(float(expected) * t * t, rel=1e-5)


def test_lm_matches_hand_computation_and_gradient_reaches_student_only():
    student = torch.randn(3, 4, requires_grad=True)
    teacher = torch.randn(3, 4, requires_grad=True)
    target = teacher.argmax(-1)
    fd = FocalDistillation(alpha=0.5, beta=2.0, kind="lm")
    loss = fd(student, teacher, target)
    expected = (2.5 * 0.5 * (student - teacher).pow(2).mean(-1)).mean()
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    loss.backward()
    assert student.grad is not None and teacher.grad is None


def test_zero_when_student_equals_teacher():
    logits = torch.randn(5, 3)
    assert float(FocalDistillation()(logits, logits.clone(), torch.zeros(5, dtype=torch.long))) == pytest.approx(0.0, abs=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="kind='l2'"):
        FocalDistillation(kind="l2")
    with pytest.raises(ValueError, match="temperature"):
        FocalDistillation(temperature=0.0)
    with pytest.raises(ValueError, match="same shape"):
        FocalDistillation()(torch.randn(2, 5), torch.randn(2, 3), torch.zeros(2, dtype=torch.long))
