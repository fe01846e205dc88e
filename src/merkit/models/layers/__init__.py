"""Reusable network blocks: CBAM, Ghost module, paper 002's lightweight Ghost-attention ViT block."""

from merkit.models.layers.cbam import CBAM, ChannelGate, SpatialGate
from merkit.models.layers.ghost import GhostModule
from merkit.models.layers.lite_vit import GhostAttention, LiteTransformerLayer, LiteViTBlock, channel_shuffle

__all__ = [
    "CBAM",
    "ChannelGate",
    "GhostAttention",
    "GhostModule",
    "LiteTransformerLayer",
    "LiteViTBlock",
    "SpatialGate",
    "channel_shuffle",
]
