"""ONNX export of a model bundle's network, checked against PyTorch before it is kept.

``merkit export BUNDLE --format onnx`` writes ``model.onnx`` into the bundle
and records it in ``card.json`` (``"onnx"``). The graph computes what the
fitted model's torch network computes at prediction time: class logits, or
the embeddings an SVC head reads (``head = "svc"``; the SVC itself stays in
the bundle's arrays). The batch axis is dynamic. The export and its parity
check are :func:`merkit.deploy.onnx.export_network`; the measured difference
is stored in the card.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import torch
from torch import nn

from merkit._io import write_text
from merkit.deploy.bundle import CARD, load_model
from merkit.deploy.onnx import export_network, quantize_int8, require_onnx
from merkit.errors import ConfigError

__all__ = ["ONNX_FILE", "ONNX_INT8_FILE", "export_onnx"]

log = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
ONNX_INT8_FILE = "model.int8.onnx"


class _Embeddings(nn.Module):
    """The network up to the features an SVC head reads."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_head(self.net.forward_features(x), pre_logits=True)


def export_onnx(bundle: str | os.PathLike, *, opset: int = 18, tolerance: float = 1e-4, seed: int = 0,
                int8: bool = False) -> Path:
    """Export the network of the bundle at ``bundle`` to ``bundle/model.onnx`` (module docstring).

    ``int8=True`` also writes ``model.int8.onnx`` (:func:`quantize_int8`) and records its measured cost;
    it is used only when asked for (``backend="onnx-int8"``).

    Returns:
        The ONNX file's path.

    Raises:
        ConfigError: onnxruntime is missing, or the bundle's fitted model has no torch network.
        ExportError: the export failed or does not match PyTorch within ``tolerance``.
    """
    require_onnx()
    bundle = Path(bundle)
    loaded = load_model(bundle)
    net = getattr(loaded.fitted, "model", None)
    if not isinstance(net, nn.Module):
        raise ConfigError(f"bundle {str(bundle)!r} ({loaded.card['method']}) has no neural network to export; "
                          f"its classifier is {type(loaded.fitted).__name__}.")
    svc = getattr(loaded.fitted, "svc", None)
    module = _Embeddings(net) if svc is not None else net
    input_size = tuple(int(v) for v in net.default_cfg["input_size"])
    target = bundle / ONNX_FILE
    exporter, worst = export_network(module, input_size, target, opset=opset, tolerance=tolerance, seed=seed,
                                     svc=svc, num_classes=len(loaded.classes))
    card_path = bundle / CARD
    card = json.loads(card_path.read_text())
    card["onnx"] = {"file": ONNX_FILE, "opset": opset, "exporter": exporter,
                    "output": "embeddings" if svc is not None else "logits",
                    "input_shape": ["batch", *input_size], "parity_max_abs_probability": worst}
    if int8:
        cost = quantize_int8(target, bundle / ONNX_INT8_FILE, input_size, seed=seed, svc=svc,
                             num_classes=len(loaded.classes))
        card["onnx"]["int8"] = {"file": ONNX_INT8_FILE, "quantized": "MatMul/Gemm weights, dynamic", **cost}
    write_text(card_path, json.dumps(card, indent=2, sort_keys=True) + "\n")
    log.info("exported %s to %s (%s exporter, max |dp| %.1e)", loaded.card["model"], target, exporter, worst)
    return target
