"""MobileViT-S for micro-expressions (seed 003): size, shapes, transfer scopes, errors."""

import re

import pytest
import torch

from merkit.errors import ConfigError, ShapeError, UnknownNameError
from merkit.models import create_model, model_info
from merkit.models.mobilevit_me import MobileViTME

PAPER_PARAMS = 4.94e6  # docs/models/mobilevit_me.md, "Network": MobileViT-S with 3 classes


def test_param_count_within_two_percent_of_the_reference():
    info = model_info("mobilevit_s_me")
    assert abs(info.params - PAPER_PARAMS) / PAPER_PARAMS < 0.02
    assert info.input_size == (1, 256, 256)
    assert 1.7 < info.gmacs < 2.0  # docs/models/mobilevit_me.md, "Network": 2.00 here, fvcore 1.86


def test_grayscale_stem_saves_exactly_the_first_conv_channels():
    one = sum(p.numel() for p in create_model("mobilevit_s_me").parameters())
    three = sum(p.numel() for p in create_model("mobilevit_s_me", in_chans=3).parameters())
    assert three - one == 16 * 2 * 3 * 3  # stem conv: 16 filters of 3x3, 2 input channels fewer
    assert one == 4_939_267


def test_feature_map_and_head_shapes():
    model = create_model("mobilevit_xxs_me").eval()
    x = torch.rand(2, 1, 64, 64)
    fmap = model.forward_features(x)
    assert fmap.shape == (2, model.num_features, 2, 2)  # stride 32
    assert model.forward_head(fmap, pre_logits=True).shape == (2, model.num_features)
    assert model(x).shape == (2, 3)


def test_dropout_is_the_papers_half_and_active_only_in_training():
    model = create_model("mobilevit_xxs_me")
    assert model.head.drop.p == 0.5
    model.eval()
    x = torch.rand(2, 1, 64, 64)
    assert torch.equal(model(x), model(x))


def test_wrong_channel_count_names_the_expected_shape():
    model = create_model("mobilevit_xxs_me")
    with pytest.raises(ShapeError, match=re.escape("must have shape (B, 1, H, W); got (2, 3, 64, 64)")):
        model(torch.rand(2, 3, 64, 64))


def test_bad_options():
    with pytest.raises(ConfigError, match="in_chans must be 1"):
        MobileViTME(in_chans=2)
    with pytest.raises(UnknownNameError, match="mobilevit_s"):
        MobileViTME(variant="mobilevit_m")


def test_transfer_scopes_cover_what_they_name():
    model = create_model("mobilevit_xxs_me")
    mv2 = model.transfer_state_dict("mv2")
    only = model.transfer_state_dict("mv2_only")
    backbone = model.transfer_state_dict("backbone")
    assert any(k.startswith("stem.") for k in mv2) and not any(k.startswith("stem.") for k in only)
    assert set(only) < set(mv2) < set(backbone)
    # MobileViT blocks (stages.2.1 ...) and the classifier are not MV2 weights
    assert not any(k.startswith(("stages.2.1.", "head.", "final_conv.")) for k in mv2)
    assert any(k.startswith("stages.2.1.") for k in backbone)
    assert not any(k.startswith("head.") for k in backbone)
    assert len(list(model.mv2_blocks())) == 1 + 3 + 3  # stages 0, 1 and the first block of 2..4


def test_load_transfer_state_copies_only_the_scope():
    torch.manual_seed(0)
    src = create_model("mobilevit_xxs_me", num_classes=3)
    torch.manual_seed(1)
    dst = create_model("mobilevit_xxs_me", num_classes=5)
    loaded = dst.load_transfer_state(src.transfer_state_dict("mv2"), "mv2")
    assert loaded and all(torch.equal(dst.state_dict()[k], src.state_dict()[k]) for k in loaded)
    assert not torch.equal(dst.stages[2][1].conv_kxk.conv.weight, src.stages[2][1].conv_kxk.conv.weight)


def test_load_transfer_state_refuses_incompatible_weights():
    src = create_model("mobilevit_xxs_me").transfer_state_dict("mv2_only")
    with pytest.raises(ConfigError, match="lack"):
        create_model("mobilevit_xxs_me").load_transfer_state(src, "mv2")
    other = create_model("mobilevit_xxs_me", in_chans=3).transfer_state_dict("mv2")
    with pytest.raises(ConfigError, match=re.escape("in_chans=1 expects (16, 1, 3, 3)")):
        create_model("mobilevit_xxs_me").load_transfer_state(other, "mv2")


def test_regularized_weights_are_conv_and_linear_kernels_only():
    model = create_model("mobilevit_xxs_me")
    weights = model.regularized_weights()
    ids = {id(w) for w in weights}
    assert all(w.ndim in (2, 4) for w in weights)
    assert id(model.head.fc.weight) in ids and id(model.head.fc.bias) not in ids
