"""The shared "SVM classifier" heads: hinge loss, Keras L2, SVC on embeddings."""

import re

import numpy as np
import pytest
import torch
from torch import nn

from merkit.errors import ConfigError, UnknownNameError
from merkit.models import create_model
from merkit.training.heads import (
    EmbeddingSVC,
    extract_embeddings,
    head_loss,
    l2_penalty,
    multiclass_hinge_loss,
    scores_to_proba,
)


def test_hinge_loss_is_equation_17():
    scores = torch.tensor([[2.0, 1.5, -1.0], [0.0, 0.2, 0.1]])
    target = torch.tensor([0, 2])
    # row 0: max(0, 1-2+1.5) + max(0, 1-2-1) = 0.5 ; row 1: max(0, 1-0.1+0) + max(0, 1-0.1+0.2) = 0.9 + 1.1
    expected = ((0.5) / 3 + (0.9 + 1.1) / 3) / 2
    assert multiclass_hinge_loss(scores, target).item() == pytest.approx(expected)
    squared = ((0.5**2) / 3 + (0.9**2 + 1.1**2) / 3) / 2
    assert multiclass_hinge_loss(scores, target, p=2).item() == pytest.approx(squared)
    assert head_loss("hinge", scores, target).item() == pytest.approx(expected)


def test_l2_penalty_counts_conv_and_linear_kernels_only():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(2, 3))
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(1.0)
    # conv kernel 18 + linear kernel 6 = 24 squared ones; biases and BN are not penalised
    assert l2_penalty(net, 0.2).item() == pytest.approx(0.2 * 24)
    assert l2_penalty(net, 0.0).item() == 0.0
    with pytest.raises(ConfigError, match="L2 scale"):
        l2_penalty(net, -1.0)


def test_unknown_head_has_close_match():
    with pytest.raises(UnknownNameError, match=re.escape("'hinge'")):
        head_loss("hinges", torch.zeros(1, 3), torch.zeros(1, dtype=torch.long))


def test_a_linear_hinge_head_with_l2_separates_blobs():
    gen = torch.Generator().manual_seed(0)
    centres = torch.tensor([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])
    y = torch.arange(3).repeat_interleave(40)
    x = centres[y] + 0.5 * torch.randn(120, 2, generator=gen)
    head = nn.Linear(2, 3)
    opt = torch.optim.Adam(head.parameters(), lr=0.05)
    for _ in range(200):
        loss = head_loss("hinge", head(x), y) + l2_penalty(head, 1e-3)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (head(x).argmax(1) == y).float().mean() > 0.97


def test_embedding_svc_picks_C_on_validation_and_predicts():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 20)
    emb = np.eye(3)[y] * 4 + rng.normal(size=(60, 3))
    svc = EmbeddingSVC(C=(0.01, 1.0), seed=0).fit(emb[::2], y[::2], emb[1::2], y[1::2])
    assert svc.chosen_C in (0.01, 1.0)
    proba = svc.predict_proba(emb, 3)
    assert proba.shape == (60, 3) and np.allclose(proba.sum(1), 1)
    assert (proba.argmax(1) == y).mean() > 0.95


def test_embedding_svc_absent_and_single_classes():
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(20, 4))
    y = np.repeat([0, 2], 10)
    proba = EmbeddingSVC().fit(emb, y).predict_proba(emb, 3)
    assert np.all(proba[:, 1] == 0)  # class 1 never seen in training
    single = EmbeddingSVC().fit(emb, np.full(20, 2)).predict_proba(emb[:3], 3)
    assert np.array_equal(single.argmax(1), [2, 2, 2])


def test_embedding_svc_bad_options():
    with pytest.raises(UnknownNameError, match="kernel"):
        EmbeddingSVC(kernel="poly")
    with pytest.raises(ConfigError, match="positive"):
        EmbeddingSVC(C=(0.0,))


def test_extract_embeddings_are_pre_logits():
    torch.manual_seed(0)
    model = create_model("ststnet")
    x = np.random.default_rng(0).random((5, 3, 28, 28)).astype(np.float32)
    emb = extract_embeddings(model, x, batch_size=2)
    assert emb.shape == (5, model.num_features) and emb.dtype == np.float32
    logits = model.forward_head(torch.from_numpy(emb)).detach().numpy()
    with torch.no_grad():
        assert np.allclose(logits, model.eval()(torch.from_numpy(x)).numpy(), atol=1e-5)
    assert np.allclose(scores_to_proba(logits).sum(1), 1)
