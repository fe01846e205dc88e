import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from merkit.errors import ShapeError
from merkit.evaluation.runner import seed_everything
from merkit.models import create_model
from merkit.training.loop import (
    balanced_epoch_order,
    class_weights,
    macro_f1,
    predict_proba,
    recalibrate_batchnorm,
    train_loop,
    use_channels_last,
    validation_scorer,
)
from merkit.training.methods.supervised import fit_supervised
from merkit.training.settings import TrainConfig
from tests._helpers.tables import CLASSES, learnable_features

FAST = TrainConfig(epochs=4, batch_size=16, lr=3e-3, progress=False)


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    table = pd.DataFrame({"label": [CLASSES[i] for i in y]})
    return learnable_features(table, seed), y


def test_same_seed_same_predictions_on_cpu():
    x, y = _data()
    probs = []
    for _ in range(2):
        seed_everything(7)
        model = create_model("ststnet")
        fit_supervised(model, x, y, FAST, seed=7)
        probs.append(predict_proba(model, x))
    np.testing.assert_array_equal(probs[0], probs[1])
    seed_everything(8)
    other = create_model("ststnet")
    fit_supervised(other, x, y, FAST, seed=8)
    assert not np.array_equal(probs[0], predict_proba(other, x))


def test_learns_a_learnable_signal():
    x, y = _data(96)
    seed_everything(0)
    model = create_model("ststnet")
    history = fit_supervised(model, x, y, TrainConfig(epochs=30, batch_size=32, lr=1e-2, progress=False,
                                                      augment=False), seed=0)
    assert history.train_loss[-1] < history.train_loss[0]
    assert (predict_proba(model, x).argmax(1) == y).mean() > 0.8
    assert history.samples_per_second > 0


def test_early_stopping_keeps_best_validation_epoch():
    x, y = _data(60)
    cfg = TrainConfig(epochs=12, batch_size=16, lr=3e-3, schedule="early_stopping", patience=3, progress=False)
    seed_everything(0)
    history = fit_supervised(create_model("ststnet"), x[:40], y[:40], cfg, seed=0, x_val=x[40:], y_val=y[40:])
    assert 1 <= history.best_epoch <= len(history.val_score)
    assert history.val_score[history.best_epoch - 1] == max(history.val_score)
    with pytest.raises(ShapeError, match="needs validation rows"):
        fit_supervised(create_model("ststnet"), x, y, cfg, seed=0)


def test_class_weights_and_macro_f1():
    w = class_weights(np.array([0, 0, 0, 1]), 3)
    np.testing.assert_allclose(w, [4 / 6, 2.0, 0.0])
    assert macro_f1(np.array([0, 1, 1]), np.array([0, 1, 0]), 3) == pytest.approx((2 / 3 + 2 / 3) / 2)


@pytest.mark.parametrize("imbalance", ["balanced_sampler", "equal_per_class", "none"])
def test_samplers_run(imbalance):
    x, y = _data(32)
    history = fit_supervised(create_model("ststnet"), x, y, TrainConfig(epochs=1, imbalance=imbalance,
                                                                        progress=False), seed=0)
    assert len(history.train_loss) == 1


def test_equal_per_class_draws_the_smallest_count_of_each_class():
    y = np.array([0] * 10 + [1] * 3 + [2] * 5)
    order = balanced_epoch_order(y, torch.Generator().manual_seed(0)).numpy()
    assert len(order) == 9 and len(set(order.tolist())) == 9
    assert np.bincount(y[order]).tolist() == [3, 3, 3]


def _drawn_rows(labels, imbalance, epochs, seed=0):
    """Per epoch, the item positions ``train_loop`` hands to ``make_batch`` (a linear model on 4 features)."""
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(len(labels), 4)).astype(np.float32))
    y = torch.from_numpy(labels)
    drawn = []

    def make_batch(rows, gen):
        drawn.append(rows.clone())
        return x[rows], y[rows]

    cfg = TrainConfig(epochs=epochs, batch_size=16, lr=0.01, imbalance=imbalance, progress=False, augment=False)
    history = train_loop(_Linear(), labels, make_batch, lambda net, b, ctx: F.cross_entropy(net(b[0]), b[1]), cfg,
                         seed=seed)
    steps = len(history.step_loss) // epochs  # the same number of batches every epoch here
    assert steps * epochs == len(drawn)  # every batch built was a training step (no other pass)
    return [torch.cat(drawn[e * steps : (e + 1) * steps]).numpy() for e in range(epochs)]


def test_samplers_draw_the_classes_they_promise():
    # 10:1 imbalance: 100 items of class 0, 10 of class 1
    labels = np.array([0] * 100 + [1] * 10, dtype=np.int64)
    epochs = 40
    balanced = _drawn_rows(labels, "balanced_sampler", epochs)
    # N draws per epoch, with replacement, each class equally likely: about half are the 10 minority items
    assert all(len(e) == len(labels) for e in balanced)
    counts = np.bincount(labels[np.concatenate(balanced)], minlength=2)
    assert abs(counts[1] / counts.sum() - 0.5) < 0.03, counts  # 4,400 draws: 3 % is > 4 standard deviations
    minority = np.bincount(np.concatenate(balanced), minlength=len(labels))[100:]
    assert minority.min() > 5 * epochs / 2  # every minority item is drawn ~5.5 times an epoch, not once
    # none: each epoch is a permutation of the items, so the classes come in their own proportion
    for order in _drawn_rows(labels, "none", 3):
        assert sorted(order.tolist()) == list(range(len(labels)))
    # equal_per_class: the smallest class count (10) from every class, no repeats, other majority items each epoch
    equal = _drawn_rows(labels, "equal_per_class", epochs)
    for order in equal:
        assert len(order) == 20 and len(set(order.tolist())) == 20
        assert np.bincount(labels[order], minlength=2).tolist() == [10, 10]
    assert len(set(np.concatenate(equal).tolist())) > 90  # the majority items kept change from epoch to epoch


class _Linear(torch.nn.Module):
    num_classes = 2

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(4, 4)
        self.b = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.b(self.a(x))


def _linear_problem(n=40):
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(n, 4)).astype(np.float32))
    y = (x[:, 0] > 0).long()
    return x, y


def test_steps_mode_counts_optimiser_steps_and_freeze_plan_freezes():
    x, y = _linear_problem()
    model = _Linear()
    before = model.a.weight.detach().clone()
    cfg = TrainConfig(steps=7, batch_size=8, lr=0.05, progress=False, augment=False)
    seen = []
    history = train_loop(model, y.numpy(), lambda rows, gen: (x[rows], y[rows]),
                         lambda net, b, ctx: F.cross_entropy(net(b[0]), b[1]), cfg, seed=0,
                         freeze_plan=[[model.a]], on_step=lambda step, net: seen.append(step))
    assert len(history.step_loss) == 7 and seen == list(range(1, 8))
    torch.testing.assert_close(model.a.weight, before)  # frozen the whole time
    assert all(p.requires_grad for p in model.parameters())  # trainable again afterwards
    assert history.frozen_groups[0] == 1


def test_plateau_schedule_halves_the_lr_and_sgd_runs():
    x, y = _linear_problem()
    cfg = TrainConfig(epochs=8, batch_size=8, lr=0.1, progress=False, optimizer="sgd", lr_schedule="plateau",
                      plateau_patience=1)
    flat = lambda net, b, ctx: net(b[0]).sum() * 0.0 + 1.0  # noqa: E731  a loss that never improves
    history = train_loop(_Linear(), y.numpy(), lambda rows, gen: (x[rows], y[rows]), flat, cfg, seed=0)
    assert history.lr[0] == 0.1 and history.lr[-1] < 0.1
    constant = train_loop(_Linear(), y.numpy(), lambda rows, gen: (x[rows], y[rows]), flat,
                          TrainConfig(epochs=8, batch_size=8, lr=0.1, progress=False), seed=0)
    assert constant.lr == [0.1] * 8


def test_validation_scorer_accuracy_and_uf1():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    score, loss = validation_scorer(lambda m: probs, np.array([0, 1, 1]), "accuracy")(None)
    assert score == pytest.approx(2 / 3) and loss > 0
    score, _ = validation_scorer(lambda m: probs, np.array([0, 1, 1]))(None)
    assert score == pytest.approx(macro_f1(np.array([0, 1, 1]), np.array([0, 1, 0]), 2))


def test_too_few_items_for_a_batch_is_an_error_not_an_endless_loop():
    x, y = _linear_problem(1)
    with pytest.raises(ShapeError, match="at least 2"):
        train_loop(_Linear(), y.numpy(), lambda rows, gen: (x[rows], y[rows]),
                   lambda net, b, ctx: F.cross_entropy(net(b[0]), b[1]), TrainConfig(steps=5, progress=False), seed=0)
    labels = np.array([0, 1, 1, 1])  # equal_per_class takes one item per class: batches of 2 are possible
    xs = torch.zeros((4, 4))
    history = train_loop(_Linear(), labels, lambda rows, gen: (xs[rows], torch.from_numpy(labels)[rows]),
                         lambda net, b, ctx: F.cross_entropy(net(b[0]), b[1]),
                         TrainConfig(epochs=1, imbalance="equal_per_class", progress=False), seed=0)
    assert len(history.step_loss) == 1


@pytest.mark.parametrize("name", ["adamw", "adam", "sgd"])
def test_loop_optimisers_are_bit_identical_to_the_per_tensor_loop(name):
    # the loop uses torch's foreach kernels for speed; a change of implementation must not move results
    from merkit.training.loop import _optimizer

    cfg = TrainConfig(optimizer=name, lr=1e-2, weight_decay=1e-2, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    ours = [torch.randn(40, 30, generator=gen, requires_grad=True), torch.randn(7, generator=gen, requires_grad=True)]
    ref = [p.detach().clone().requires_grad_(True) for p in ours]
    kind = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam, "sgd": torch.optim.SGD}[name]
    extra = {"momentum": 0.9} if name == "sgd" else {}
    opt, ref_opt = _optimizer(ours, cfg), kind(ref, lr=1e-2, weight_decay=1e-2, foreach=False, **extra)
    for _ in range(5):
        for a, b in zip(ours, ref):
            a.grad = torch.randn(a.shape, generator=gen)
            b.grad = a.grad.clone()
        opt.step()
        ref_opt.step()
    assert all(torch.equal(a, b) for a, b in zip(ours, ref))


class _NormedLinear(torch.nn.Module):
    """A BatchNorm on the raw input (its statistics are the data's), dropout, then a linear layer."""

    num_classes = 2

    def __init__(self):
        super().__init__()
        self.norm = torch.nn.BatchNorm1d(4)
        self.drop = torch.nn.Dropout(0.5)
        self.hidden = torch.nn.Linear(4, 4)
        self.norm2 = torch.nn.BatchNorm1d(4)
        self.head = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.norm2(self.hidden(self.drop(self.norm(x)))))


def test_recalibrate_batchnorm_averages_the_batches_and_restores_the_layers():
    x, _ = _linear_problem(40)
    x = x * 3.0 + 5.0
    model = _NormedLinear()
    model.norm.momentum = 0.3
    batches = list(x.split(10))
    assert recalibrate_batchnorm(model, batches, lambda net, b: net(b), skip=[model.norm2]) == 1
    torch.testing.assert_close(model.norm.running_mean, x.mean(0))
    # the plain average of the per-batch unbiased variances (equal batches)
    torch.testing.assert_close(model.norm.running_var, torch.stack([b.var(0) for b in batches]).mean(0))
    torch.testing.assert_close(model.norm2.running_mean, torch.zeros(4))  # skipped: untouched
    assert model.norm.momentum == 0.3 and not model.training and not model.norm.training
    assert recalibrate_batchnorm(_Linear(), batches, lambda net, b: 1 / 0) == 0  # no BatchNorm: nothing is run


def test_precise_bn_re_estimates_statistics_without_changing_the_training():
    x, y = _linear_problem(40)
    x = x * 3.0 + 5.0  # far from BatchNorm's initial statistics (0, 1)
    runs = {}
    for precise in (False, True):
        torch.manual_seed(0)
        model = _NormedLinear()
        cfg = TrainConfig(epochs=2, batch_size=8, lr=0.05, progress=False, precise_bn=precise)
        history = train_loop(model, y.numpy(), lambda rows, gen: (x[rows], y[rows]),
                             lambda net, b, ctx: F.cross_entropy(net(b[0]), b[1]), cfg, seed=0)
        runs[precise] = (model, history)
    plain, precise = runs[False][0], runs[True][0]
    assert runs[False][1].step_loss == runs[True][1].step_loss  # the same optimisation, step by step
    for name, p in plain.named_parameters():
        torch.testing.assert_close(p, dict(precise.named_parameters())[name])
    torch.testing.assert_close(precise.norm.running_mean, x.mean(0))  # the data's mean, as precise BN should
    # 10 momentum-0.1 updates from (0, 1) are still ~35 % short of the data's mean of 5
    assert (plain.norm.running_mean - x.mean(0)).abs().min() > 1.0
    # the second layer's mean too (its input is linear in a batch-normalised one, so the batch means agree)
    with torch.no_grad():
        torch.testing.assert_close(precise.norm2.running_mean, precise.hidden(precise.norm(x)).mean(0),
                                   atol=1e-5, rtol=1e-4)


def test_precise_bn_runs_before_each_validation():
    x, y = _linear_problem(40)
    x = x * 3.0 + 5.0
    seen = []

    def validate(net):
        seen.append(net.norm.running_mean.clone())
        return 0.5, 1.0

    cfg = TrainConfig(epochs=3, batch_size=8, lr=0.05, progress=False, precise_bn=True, schedule="early_stopping")
    train_loop(_NormedLinear(), y.numpy(), lambda rows, gen: (x[rows], y[rows]),
               lambda net, b, ctx: F.cross_entropy(net(b[0]), b[1]), cfg, seed=0, validate=validate)
    assert len(seen) == 3
    for mean in seen:
        torch.testing.assert_close(mean, x.mean(0))


def test_precise_bn_keeps_the_statistics_of_frozen_layers():
    x, y = _linear_problem(40)
    x = x * 3.0 + 5.0
    model = _NormedLinear()
    with torch.no_grad():  # "transferred" statistics
        model.norm.running_mean.fill_(2.0)
    cfg = TrainConfig(epochs=2, batch_size=8, lr=0.05, progress=False, precise_bn=True)
    train_loop(model, y.numpy(), lambda rows, gen: (x[rows], y[rows]),
               lambda net, b, ctx: F.cross_entropy(net(b[0]), b[1]), cfg, seed=0, freeze_plan=[[model.norm]])
    torch.testing.assert_close(model.norm.running_mean, torch.full((4,), 2.0))
    assert model.norm2.num_batches_tracked == 5  # re-estimated: one pass of 5 batches, counted from zero


def test_precise_bn_is_not_repeated_when_the_last_validation_did_it():
    x, y = _linear_problem(40)
    calls = []

    def loss(net, b, ctx):
        calls.append(len(b[0]))
        return F.cross_entropy(net(b[0]), b[1])

    cfg = TrainConfig(epochs=2, batch_size=8, lr=0.05, progress=False, precise_bn=True)  # fixed: curves only
    train_loop(_NormedLinear(), y.numpy(), lambda rows, gen: (x[rows], y[rows]), loss, cfg, seed=0,
               validate=lambda net: (0.5, 1.0))
    assert len(calls) == 2 * 5 + 2 * 5  # 2 epochs of 5 steps, one 5-batch pass before each validation, none after


def test_channels_last_only_for_2d_networks_under_amp_on_cuda():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    flat = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten())
    volumetric = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Conv3d(4, 4, 1))
    assert use_channels_last(flat, amp=True, device=cuda)
    assert not use_channels_last(flat, amp=False, device=cuda)
    assert not use_channels_last(flat, amp=True, device=cpu)
    # the layout PyTorch refuses for a 5-D weight (MOL's 3-D CNN failed on CUDA with amp before this rule)
    with pytest.raises(RuntimeError, match="rank 4"):
        volumetric.to(memory_format=torch.channels_last)
    assert not use_channels_last(volumetric, amp=True, device=cuda)
    assert not use_channels_last(create_model("mol", num_classes=3, num_frames=2),
                                 amp=True, device=cuda)
