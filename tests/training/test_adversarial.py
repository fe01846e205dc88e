import numpy as np
import pytest
import torch

from merkit.errors import ConfigError
from merkit.evaluation.runner import seed_everything
from merkit.inputs.feature_set import FeatureSet
from merkit.models import create_model
from merkit.training.adversarial import IdentityAdversary, build_identity_adversary
from merkit.training.loop import predict_proba
from merkit.training.methods import get_method
from merkit.training.methods.supervised import fit_supervised as fit_model
from merkit.training.settings import TrainConfig
from tests._helpers.folds import fold_task
from tests._helpers.tables import labelled_table

# one stage (preset cvt1_d1, Table 4 row 11) on 32x32 inputs: 2x2 tokens, fast enough for CPU tests
TINY = {"stages": "cvt1_d1", "img_size": 32, "drop_path_rate": 0.0}


def tiny(name="mier_cvt_id", **options):
    return create_model(name, **{**TINY, **options})


def _inputs(n, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.uniform(0, 1, (n, 3, 32, 32)).astype(np.float32)
    x[np.arange(n), 0, :16, :16] += y[:, None, None] * 0.5
    subjects = np.array([f"casme2/sub{i % 4:02d}" for i in range(n)], dtype=object)
    return x, y, subjects


def test_only_marked_models_get_an_adversary():
    assert build_identity_adversary(tiny("mier_cvt"), ["a", "b"], 10) is None
    assert build_identity_adversary(create_model("ststnet"), ["a", "b"], 10) is None
    adversary = build_identity_adversary(tiny(identity_loss_weight=0.3, identity_hidden=32), ["s2", "s1", "s2"], 10)
    assert adversary.subjects == ("s1", "s2")  # distinct, sorted
    assert adversary.loss_weight == 0.3
    assert adversary.head.net[0].out_features == 32
    np.testing.assert_array_equal(adversary.encode(["s2", "s1"]), [1, 0])
    with pytest.raises(ConfigError, match="'s9' is not one of the 2 training subjects"):
        adversary.encode(["s9"])
    with pytest.raises(ConfigError, match="got no subject ids"):
        build_identity_adversary(tiny(), None, 10)
    with pytest.raises(ConfigError, match="at least 2 training subjects"):
        build_identity_adversary(tiny(), ["s1", "s1"], 10)


def test_coefficient_follows_the_dann_schedule_over_steps():
    adversary = IdentityAdversary(8, ["a", "b"], total_steps=100)
    alphas = [adversary.coefficient(s) for s in range(0, 101, 10)]
    assert alphas[0] == 0.0
    assert all(a < b for a, b in zip(alphas, alphas[1:]))
    assert alphas[-1] == pytest.approx(2 / (1 + np.exp(-10)) - 1)


def test_identity_loss_is_weighted_cross_entropy():
    adversary = IdentityAdversary(8, ["a", "b", "c"], loss_weight=0.5, total_steps=4).eval()
    features = torch.randn(5, 8)
    target = torch.tensor([0, 1, 2, 0, 1])
    expected = 0.5 * torch.nn.functional.cross_entropy(adversary.head.net(features), target)
    assert torch.allclose(adversary.loss(features, target, step=2), expected)


def test_reversal_reaches_the_model_only_after_the_schedule_starts():
    x, y, subjects = _inputs(24)
    cfg = TrainConfig(epochs=1, batch_size=24, lr=1e-2, augment=False, progress=False, threads=1)

    def train(name, epochs):
        seed_everything(0)
        model = tiny(name, identity_loss_weight=5.0)
        history = fit_model(model, x, y, TrainConfig(**{**cfg.__dict__, "epochs": epochs}), seed=0, subjects=subjects)
        return model, history

    # one step: alpha(0) = 0, so the features get no identity gradient and the model trains exactly as plain
    plain, _ = train("mier_cvt", 1)
    adv, history = train("mier_cvt_id", 1)
    for (name, a), b in zip(plain.state_dict().items(), adv.state_dict().values()):
        assert torch.equal(a, b), name
    assert history.extra["identity_subjects"] == tuple(f"casme2/sub{i:02d}" for i in range(4))
    identity = [p["identity"] for p in history.parts]  # one step per epoch here
    assert len(identity) == 1 and identity[0] > 0
    # later steps have alpha > 0: the reversed identity gradient changes the feature extractor
    plain, _ = train("mier_cvt", 3)
    adv, history = train("mier_cvt_id", 3)
    assert not torch.equal(plain.stages[0].embed.weight, adv.stages[0].embed.weight)
    assert len([p["identity"] for p in history.parts]) == 3
    assert predict_proba(adv, x).shape == (24, 3)


def test_plain_models_train_as_before_with_or_without_subjects():
    x, y, subjects = _inputs(16)
    cfg = TrainConfig(epochs=2, batch_size=8, augment=False, progress=False)
    out = []
    for s in (None, subjects):
        seed_everything(3)
        model = create_model("ststnet")
        history = fit_model(model, np.resize(x[:, :, :28, :28], (16, 3, 28, 28)), y, cfg, seed=3, subjects=s)
        assert all(p == {} for p in history.parts) and "identity_subjects" not in history.extra
        out.append(model.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(out[0].values(), out[1].values()))


@pytest.mark.parametrize("schedule", ["fixed", "early_stopping"])
def test_identity_classes_are_the_folds_training_subjects_never_the_test_subject(schedule):
    table = labelled_table(4, 4)
    rng = np.random.default_rng(0)
    features = FeatureSet(table["sample_key"], rng.uniform(0, 1, (len(table), 3, 32, 32)).astype(np.float32))
    cfg = TrainConfig(epochs=2, batch_size=16, schedule=schedule, patience=2, progress=False)
    from merkit.inputs.config import FeatureConfig
    from merkit.training.methods.base import NoOptions

    fp = get_method("supervised")("mier_cvt_id", TINY, NoOptions(), cfg, FeatureConfig(), progress=False)
    fp.inputs = features
    task = fold_task(table, "casme2/sub01", val_subjects=2)
    probs = fp(table, task)
    assert probs.shape == (len(task.test_idx), 3)
    history = fp.histories[-1][2]
    subjects = table["subject_key"].to_numpy()
    rows = np.concatenate([task.fit_idx, task.val_idx]) if schedule == "fixed" else task.fit_idx
    identity_subjects = history.extra["identity_subjects"]
    assert identity_subjects == tuple(sorted(set(subjects[rows])))
    assert "casme2/sub01" not in identity_subjects
    assert len(identity_subjects) == len(set(subjects[rows])) >= 2
