"""The method contract, checked for every registered method (scikit-learn's ``parametrize_with_checks`` habit).

For each method of :func:`merkit.training.methods.list_methods` a tiny instance
(:data:`tests._helpers.methods.TINY_METHODS`) is fitted on one fold of a small table, and:

* ``prepare`` builds inputs only: it calls the method's one input preparer and trains nothing
  (no training loop, no SVC fit, no ``pretrain``);
* the test rows' labels are never read: other test labels give identical probabilities;
* ``predict_proba`` gives one row per test sample, in the task's class order, each summing to 1;
* ``state_arrays()`` are numeric numpy arrays that survive safetensors, ``state_info()`` survives JSON,
  and ``restore(arrays, info)`` predicts what the fitted model predicts.

A newly registered method fails here until it has a tiny instance in ``tests/_helpers/methods.py``.
"""

import json

import numpy as np
import pytest

from merkit.training.methods import list_methods
from tests._helpers.folds import fit_ignoring_test_labels
from tests._helpers.methods import TINY_METHODS

CASES = [(name, variant) for name in list_methods() for variant in TINY_METHODS.get(name, {None: None})]


def _tiny(name, variant):
    if variant is None:
        pytest.fail(f"method {name!r} is registered but has no tiny instance: add one to TINY_METHODS in "
                    "tests/_helpers/methods.py")
    return TINY_METHODS[name][variant]()


@pytest.fixture
def one_torch_thread():
    """Restore torch's thread count after fits that set ``train.threads=1``."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_every_tiny_instance_is_of_a_registered_method():
    assert set(TINY_METHODS) <= set(list_methods())


@pytest.mark.parametrize("name, variant", CASES, ids=[f"{n}-{v}" for n, v in CASES])
def test_prepare_builds_the_inputs_and_trains_nothing(name, variant, monkeypatch):
    from merkit.training import heads, loop
    from merkit.training.methods import base

    method, table, _ = _tiny(name, variant)
    injected, calls = method.inputs, []
    method.inputs = None

    def preparer(kind, t, settings, progress=False):
        calls.append((kind, t, settings))
        return injected

    def trains(*args, **kwargs):
        raise AssertionError(f"{name}.prepare trained something")

    monkeypatch.setattr(base, "prepare_inputs", preparer)
    monkeypatch.setattr(loop, "train_loop", trains)
    for module in list(__import__("sys").modules.values()):
        if getattr(module, "__name__", "").startswith("merkit.training.methods.") and hasattr(module, "train_loop"):
            monkeypatch.setattr(module, "train_loop", trains)
    monkeypatch.setattr(heads.EmbeddingSVC, "fit", trains)
    monkeypatch.setattr(type(method), "pretrain", trains)
    before = dict(vars(method))
    assert method.prepare(table) is injected and method.inputs is injected
    (kind, seen, settings), = calls  # one call of the method's own preparer, on the table given
    assert kind == method.input_kind and seen is table and settings == method.input_settings()
    after = dict(vars(method))
    assert after.pop("inputs") is injected and before.pop("inputs") is None
    assert after.keys() == before.keys() and all(after[k] is v for k, v in before.items())  # nothing else set
    assert method.histories == []


@pytest.mark.parametrize("name, variant", CASES, ids=[f"{n}-{v}" for n, v in CASES])
def test_fit_never_reads_test_labels_and_the_fitted_model_restores_from_its_arrays_and_info(
        name, variant, one_torch_thread):
    from safetensors.numpy import load, save

    method, table, task = _tiny(name, variant)
    fitted, probs = fit_ignoring_test_labels(method, table, task)  # also: shape (test rows, K), rows sum to 1
    assert tuple(fitted.classes) == tuple(task.classes)
    assert probs.dtype == np.float64 and (probs >= 0).all()
    arrays = fitted.state_arrays()
    assert arrays and all(isinstance(v, np.ndarray) and v.dtype.kind in "biuf" for v in arrays.values()), \
        {k: type(v) if not isinstance(v, np.ndarray) else v.dtype for k, v in arrays.items()}
    info = json.loads(json.dumps(fitted.state_info()))  # what a bundle's card.json keeps
    restored = method.restore(load(save(arrays)), {**info, "classes": list(task.classes)})
    x_test = method.inputs.take(table["sample_key"].to_numpy()[task.test_idx])
    assert tuple(restored.classes) == tuple(task.classes)
    np.testing.assert_allclose(restored.predict_proba(x_test), probs, atol=1e-6)
