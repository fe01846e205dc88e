"""One preparer per input kind: every kind a model or method reads is registered, and methods prepare through it."""

import pandas as pd
import pytest

from merkit.errors import ConfigError, UnknownNameError
from merkit.experiments.config import config_from_dict
from merkit.inputs import FeatureConfig, get_preparer, list_input_kinds, prepare_inputs
from merkit.models import list_models, model_defaults
from merkit.training.methods import base, create_method
from merkit.training.methods.descriptor_svm import DESCRIPTOR_BASELINES


@pytest.mark.parametrize("model", list_models())
def test_every_model_input_kind_has_one_preparer(model):
    assert model_defaults(model)["inputs"] in list_input_kinds()


@pytest.mark.parametrize("baseline", sorted(DESCRIPTOR_BASELINES))
def test_every_descriptor_kind_has_one_preparer(baseline):
    assert DESCRIPTOR_BASELINES[baseline] in list_input_kinds()


@pytest.mark.parametrize("model", [*list_models(), *sorted(DESCRIPTOR_BASELINES)])
def test_method_prepare_goes_through_the_registered_preparer(model, monkeypatch):
    method = create_method(config_from_dict({"model": {"name": model}}), progress=False)
    seen = []

    def fake(kind, table, settings, progress=False):
        fn, settings_class = get_preparer(kind)
        assert isinstance(settings, settings_class)  # the settings this kind's preparer takes
        seen.append(kind)
        return "inputs"

    monkeypatch.setattr(base, "prepare_inputs", fake)
    assert method.prepare(pd.DataFrame()) == "inputs" and method.inputs == "inputs"
    assert seen == [method.input_kind]


def test_unknown_kind_and_wrong_settings_are_clear_errors():
    with pytest.raises(UnknownNameError, match="Did you mean 'flow_uv'"):
        prepare_inputs("flow_vu", pd.DataFrame(), FeatureConfig())
    with pytest.raises(ConfigError, match="'gray_clip' is prepared with MOLDataConfig settings; got FeatureConfig"):
        prepare_inputs("gray_clip", pd.DataFrame(), FeatureConfig())
