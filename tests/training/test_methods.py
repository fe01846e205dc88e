"""The method registry: defaults per model, option validation, and what misplaced options are told.

The contract every method keeps (prepare, fit honestly, restore) is tests/training/test_method_contract.py.
"""

import numpy as np
import pytest

from merkit.errors import ConfigError, UnknownNameError
from merkit.experiments.config import config_from_dict
from merkit.models import list_models, model_defaults
from merkit.training.heads import EmbeddingSVC
from merkit.training.methods import create_method, get_method, list_methods, method_name_for


def test_every_model_names_a_registered_default_method_without_being_built():
    for name in list_models():
        defaults = model_defaults(name)
        assert defaults["method"] in list_methods(), name
        assert defaults["inputs"], name
    assert method_name_for("biwoof_svm") == "descriptor_svm"
    assert method_name_for("ststnet") == "supervised"
    with pytest.raises(UnknownNameError):
        get_method("no_such_method")


def test_create_method_validates_options_and_points_misplaced_ones_to_the_method_section():
    cfg = config_from_dict({"model": {"name": "biwoof_svm"}, "method": {"options": {"C": [1, 10], "kernel": "rbf"}}})
    method = create_method(cfg)
    assert method.name == "descriptor_svm" and method.options.C == (1, 10) and method.input_kind == "biwoof"
    bad = config_from_dict({"model": {"name": "biwoof_svm"}, "method": {"options": {"kernal": "rbf"}}})
    with pytest.raises(ConfigError, match="Did you mean 'kernel'"):
        create_method(bad)
    wrong_type = config_from_dict({"model": {"name": "biwoof_svm"}, "method": {"options": {"kernel": 3}}})
    with pytest.raises(ConfigError, match="config key 'method.options.kernel' must be of type str"):
        create_method(wrong_type)
    old = config_from_dict({"model": {"name": "biwoof_svm", "options": {"C": [1.0]}}})
    with pytest.raises(ConfigError, match=r"move them to the \[method\] section"):
        create_method(old)


def test_removed_transfer_sections_say_how_to_rewrite_the_file():
    with pytest.raises(ConfigError, match=r"removed `merkit transfer`.*\[micro\] \(phase 2\) -> \[train\]"):
        config_from_dict({"transfer": {"model": "mobilevit_s_me"}, "micro": {"lr": 0.007}})


def test_svc_never_refits_on_the_test_subject_in_select_on_test_mode():
    rng = np.random.default_rng(0)
    emb, y = rng.normal(size=(30, 4)), np.repeat([0, 1, 2], 10)
    emb_test, y_test = rng.normal(size=(9, 4)), np.repeat([0, 1, 2], 3)
    kept_out = EmbeddingSVC(C=(0.1, 1.0)).fit(emb, y, emb_test, y_test, refit_with_val=False)
    assert len(kept_out.state()[0]["svc_y"]) == 30
    assert len(EmbeddingSVC(C=(0.1, 1.0)).fit(emb, y, emb_test, y_test).state()[0]["svc_y"]) == 39


def test_train_settings_in_method_options_point_to_the_train_section():
    cfg = config_from_dict({"model": {"name": "ststnet"}, "method": {"options": {"steps": 100}}})
    with pytest.raises(ConfigError, match=r"\[train\] settings"):
        create_method(cfg)
