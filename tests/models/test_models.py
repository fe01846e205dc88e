"""Registry-driven model tests: every registered model gets the same checks."""

import re

import pytest
import torch

from merkit.errors import ConfigError, UnknownNameError
from merkit.models import INPUT_KINDS, create_model, list_models, model_info, register_model

# Parameter counts reported in docs/training.md, "Models" (3 classes).
REPORTED_PARAMS = {"ststnet": (1_600, 1_800), "off_apexnet": (2_600_000, 2_700_000)}


def _small_input(model, batch=2):
    c, h, w = model.default_cfg["input_size"]
    if model.default_cfg["inputs"] == "rgb_apex":  # keep the test fast: ResNet takes any size
        h = w = 32
    if model.default_cfg["inputs"] == "gray_apex_masked":  # MobileViT: any multiple of 32 runs
        h = w = 64
    return torch.rand(batch, c, h, w)


@pytest.mark.parametrize("name", list_models())
def test_forward_backward_no_nans(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=4)
    assert model.default_cfg["inputs"] in INPUT_KINDS
    x = _small_input(model)
    logits = model(x)
    assert logits.shape == (2, 4)
    assert torch.isfinite(logits).all()
    logits.logsumexp(1).mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", list_models())
def test_pre_logits_has_num_features(name):
    model = create_model(name).eval()
    x = _small_input(model)
    feats = model.forward_head(model.forward_features(x), pre_logits=True)
    assert feats.shape == (2, model.num_features)
    assert torch.allclose(model.forward_head(model.forward_features(x)), model(x))


@pytest.mark.parametrize("name", sorted(REPORTED_PARAMS))
def test_param_counts_match_the_reference(name):
    lo, hi = REPORTED_PARAMS[name]
    info = model_info(name)
    assert lo <= info.params <= hi
    assert info.gmacs > 0


def test_ststnet_exact_layout():
    # 3x(3x3 conv) + BN of 16 channels + FC 400->3: 84 + 140 + 224 + 32 + 1203
    model = create_model("ststnet")
    assert sum(p.numel() for p in model.parameters()) == 1683
    assert model.num_features == 400


def test_ststnet_flow_only_ablation_reads_two_channels():
    model = create_model("ststnet", inputs="flow_uv")
    assert model.default_cfg["inputs"] == "flow_uv" and model.default_cfg["input_size"][0] == 2
    # only the three first convolutions lose one input channel each: 1683 - 9 * (3 + 5 + 8)
    assert sum(p.numel() for p in model.parameters()) == 1683 - 9 * 16
    assert model(torch.rand(2, 2, 28, 28)).shape == (2, 3)
    with pytest.raises(ConfigError, match="does not match inputs='flow_uv'"):
        create_model("ststnet", inputs="flow_uv", in_chans=3)
    with pytest.raises(ConfigError, match="inputs must be one of"):
        create_model("ststnet", inputs="rgb_apex")


def test_model_info_counts_macs_of_a_linear_layer():
    # conv/matmul MACs: STSTNet's FC alone is 400*3 MACs; the whole net must be more than that
    info = model_info("ststnet")
    assert info.gmacs * 1e9 > 400 * 3
    assert info.input_size == (3, 28, 28)


def test_unknown_model_names_close_match():
    with pytest.raises(UnknownNameError, match=re.escape("Did you mean 'ststnet'?")):
        create_model("stsnet")


def test_bad_option_names_the_model():
    with pytest.raises(ConfigError, match="model 'ststnet': bad option"):
        create_model("ststnet", not_an_option=1)


def test_duplicate_registration_is_an_error():
    def ststnet():  # same name as the registered one
        return None

    with pytest.raises(ConfigError, match="registered twice"):
        register_model(ststnet)


def test_off_apexnet_conv_act_option():
    with pytest.raises(UnknownNameError, match="conv_act"):
        create_model("off_apexnet", conv_act="gelu")
    plain = create_model("off_apexnet", conv_act="none")
    assert sum(p.numel() for p in plain.parameters()) == model_info("off_apexnet").params
