"""ShuffleNetV2 + CBAM / improved ViT (seed 002): layout, budget, layers, transfer."""

import math
import re

import pytest
import torch
from torch import nn

from merkit.errors import ConfigError, ShapeError, UnknownNameError
from merkit.models import count_macs, create_model, model_info
from merkit.models.layers import CBAM, GhostModule, LiteViTBlock
from merkit.models.layers.lite_vit import GhostAttention
from merkit.models.shufflenet_me import PAPER_PARAMS


def _params(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _torchvision_params(num_classes=3):
    from torchvision.models import shufflenet_v2_x1_0

    return _params(shufflenet_v2_x1_0(weights=None, num_classes=num_classes))


def test_vit_model_meets_the_paper_budget_within_5_percent():
    n = _params(create_model("shufflenet_v2_me_vit"))
    assert abs(n - PAPER_PARAMS) / PAPER_PARAMS < 0.05, n


def test_plain_model_is_torchvision_with_a_gray_stem():
    # the only change in size: the stem reads 1 channel instead of 3 (24 x 2 x 3 x 3 fewer weights)
    assert _params(create_model("shufflenet_v2_me")) == _torchvision_params() - 24 * 2 * 9
    assert _params(create_model("shufflenet_v2_me", in_chans=3)) == _torchvision_params()


def test_cbam_adds_exactly_one_cbam():
    for position, channels in (("conv5", 1024), ("stage4", 464), ("stage2", 116)):
        model = create_model("shufflenet_v2_me_cbam", cbam_position=position)
        assert _params(model) - _params(create_model("shufflenet_v2_me")) == _params(CBAM(channels))
        assert model.cbam.channel_gate.channels == channels


def test_model_info_reports_gmacs_near_the_backbone():
    info = model_info("shufflenet_v2_me")
    # torchvision's 1.0x is 0.148 GMACs at 224 with RGB input; the gray stem removes 2/3 of conv1's 5.4 M MACs
    assert 0.13 < info.gmacs < 0.15
    small = (1, 64, 64)
    assert count_macs(create_model("shufflenet_v2_me_vit"), small) > count_macs(create_model("shufflenet_v2_me"), small)


def test_leaky_relu_replaces_every_backbone_relu():
    model = create_model("shufflenet_v2_me", leaky_slope=0.3)
    acts = [m for m in model.modules() if isinstance(m, (nn.ReLU, nn.LeakyReLU))]
    assert acts and all(isinstance(m, nn.LeakyReLU) and m.negative_slope == 0.3 for m in acts)
    relu = create_model("shufflenet_v2_me", act="relu")
    assert not any(isinstance(m, nn.LeakyReLU) for m in relu.modules())


def test_vit_blocks_sit_before_and_after_stage4():
    model = create_model("shufflenet_v2_me_vit").eval()
    seen = {}

    def record(name):
        def hook(module, inputs, output):
            seen[name] = tuple(inputs[0].shape)

        return hook

    for name in ("vit_pre", "vit_post"):
        getattr(model, name).register_forward_hook(record(name))
    with torch.no_grad():
        model(torch.rand(1, 1, 224, 224))
    assert seen == {"vit_pre": (1, 232, 14, 14), "vit_post": (1, 464, 7, 7)}


@pytest.fixture
def one_torch_thread():
    """One torch thread for the test, restored afterwards: on a loaded 2-core machine two threads
    mostly wait for each other on these small convolutions (7-9 s per model instead of ~1 s)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", ["shufflenet_v2_me", "shufflenet_v2_me_cbam", "shufflenet_v2_me_vit"])
def test_small_input_forward_backward(name, one_torch_thread):
    torch.manual_seed(0)
    model = create_model(name, num_classes=5, input_size=(64, 64))
    x = torch.rand(3, 1, 64, 64)
    logits = model(x)
    assert logits.shape == (3, 5) and torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert model.forward_head(model.forward_features(x), pre_logits=True).shape == (3, model.num_features)


def test_wrong_channel_count_names_the_fix():
    model = create_model("shufflenet_v2_me")
    with pytest.raises(ShapeError, match=re.escape("Build the model with in_chans=3")):
        model(torch.zeros(1, 3, 64, 64))


def test_unknown_options_are_named():
    with pytest.raises(UnknownNameError, match="cbam_position"):
        create_model("shufflenet_v2_me_cbam", cbam_position="stage5")
    with pytest.raises(UnknownNameError, match="attention"):
        create_model("shufflenet_v2_me", attention="vits")
    with pytest.raises(ConfigError, match="fuse_groups=5"):
        create_model("shufflenet_v2_me_vit", vit_fuse_groups=(5, 8))


# --- layers ---------------------------------------------------------------------------------


def test_cbam_gates_match_the_equations():
    torch.manual_seed(0)
    cbam = CBAM(32, reduction=4).eval()
    x = torch.randn(2, 32, 5, 6)
    mlp = cbam.channel_gate.mlp
    mc = torch.sigmoid(mlp(x.mean((2, 3))) + mlp(x.amax((2, 3))))[:, :, None, None]  # Eq. 10
    f1 = mc * x
    sg = cbam.spatial_gate
    desc = torch.cat([f1.mean(1, keepdim=True), f1.amax(1, keepdim=True)], 1)
    ms = torch.sigmoid(sg.bn(sg.conv(desc)))  # Eq. 11
    assert torch.allclose(cbam(x), ms * f1, atol=1e-6)
    assert ((mc > 0) & (mc < 1)).all()


def test_ghost_module_parts_and_width():
    ghost = GhostModule(16, 11, ratio=2)
    assert ghost.primary_conv[0].out_channels == 6
    cheap = ghost.cheap_operation[0]
    assert cheap.groups == 6 and cheap.out_channels == 6  # depthwise: one ghost map per intrinsic map
    assert ghost(torch.zeros(2, 16, 4, 4)).shape == (2, 11, 4, 4)
    with pytest.raises(ConfigError, match="ratio"):
        GhostModule(4, 4, ratio=1)


def test_ghost_attention_is_softmax_vvt_v():
    torch.manual_seed(0)
    attn = GhostAttention(8, num_heads=2, proj="none").eval()
    x = torch.randn(3, 8, 2, 3)  # 3 sequences of 6 tokens on a 2x3 patch grid
    v = attn.value(x).flatten(2).transpose(1, 2).reshape(3, 6, 2, 4).transpose(1, 2)
    expected = torch.softmax(v @ v.transpose(-1, -2) / math.sqrt(4), -1) @ v  # Eq. 14, d_v = 4 per head
    expected = expected.transpose(1, 2).reshape(3, 6, 8)
    assert torch.allclose(attn(x), expected, atol=1e-5)


def test_unfold_fold_round_trip():
    block = LiteViTBlock(8, dim=4, depth=1, num_heads=1, fuse_groups=2)
    y = torch.randn(2, 4, 6, 8)
    tokens, grid = block.unfold(y)
    assert tokens.shape == (2 * 4, 12, 4) and grid == (3, 4)
    # sequence p = (0, 0) holds the top-left pixel of every patch, in row-major patch order
    assert torch.equal(tokens[0, :, 0], y[0, 0, ::2, ::2].reshape(-1))
    assert torch.equal(block.fold(tokens, 2, grid), y)


@pytest.mark.parametrize("side", [7, 8])
def test_vit_block_every_output_pixel_sees_every_input_pixel(side):
    torch.manual_seed(0)
    block = LiteViTBlock(8, dim=8, depth=1, num_heads=2, fuse_groups=2).eval()
    x = torch.randn(1, 8, side, side, requires_grad=True)
    y = block(x)
    assert y.shape == x.shape
    y[0, :, 0, 0].sum().backward()
    # the far corner is outside every convolution's reach: only the transformer can connect them
    assert x.grad[0, :, -1, -1].abs().sum() > 0


def test_vit_block_option_errors():
    with pytest.raises(UnknownNameError, match="fuse"):
        LiteViTBlock(8, fuse="sum")
    with pytest.raises(ShapeError, match=re.escape("(B, 8, H, W)")):
        LiteViTBlock(8, dim=4, num_heads=1, fuse_groups=2)(torch.zeros(1, 4, 4, 4))


# --- transfer between the phases ------------------------------------------------------------


def test_downsampling_transfer_from_a_flow_model_to_a_gray_model():
    torch.manual_seed(0)
    flow_model = create_model("shufflenet_v2_me_vit", in_chans=3)
    face_model = create_model("shufflenet_v2_me_vit")
    state = flow_model.transfer_state_dict("downsampling")
    assert all(k.startswith(("conv1.", "stage2.", "stage3.", "stage4.")) for k in state)
    loaded = face_model.load_transfer_state_dict(state)
    assert loaded == sorted(state)
    stem = face_model.state_dict()["conv1.0.weight"]
    assert torch.allclose(stem, flow_model.state_dict()["conv1.0.weight"].sum(1, keepdim=True))
    assert torch.equal(face_model.stage4[0].branch2[0].weight, flow_model.stage4[0].branch2[0].weight)
    assert not torch.equal(face_model.fc.weight, flow_model.fc.weight)  # the classifier is not handed over
    assert not torch.equal(face_model.vit_post.fuse[2].weight, flow_model.vit_post.fuse[2].weight)
    backbone = flow_model.transfer_state_dict("backbone")
    assert any(k.startswith("vit_post.") for k in backbone) and not any(k.startswith("fc.") for k in backbone)


def test_transfer_between_architectures_is_refused():
    state = create_model("shufflenet_v2_me_cbam").transfer_state_dict("backbone")
    with pytest.raises(ShapeError, match="cbam"):
        create_model("shufflenet_v2_me_cbam", cbam_position="stage4").load_transfer_state_dict(state)
