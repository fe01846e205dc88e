"""ONNX export of a model bundle's network, checked against PyTorch before it is kept.

``merkit export BUNDLE --format onnx`` writes ``model.onnx`` into the bundle
and records it in ``card.json`` (``"onnx"``). The graph computes what the
fitted model's torch network computes at prediction time: class logits, or
the embeddings an SVC head reads (``head = "svc"``; the SVC itself stays in
the bundle's arrays). The batch axis is dynamic.

Exporter: PyTorch's TorchScript-based exporter (``dynamo=False``), which
exports every registered model but MOL; MOL's F5C block builds convolution
kernels from data, which only the ``torch.export`` based exporter
(``dynamo=True``) handles, so it is tried next. Either way the export is
kept only if onnxruntime's probabilities on random inputs of batch 1 and 3
match PyTorch's within ``tolerance`` (1e-4, max absolute difference); the
measured difference is stored in the card.

Needs the optional packages ``onnx``, ``onnxscript`` and ``onnxruntime``
(``pip install 'merkit[onnx]'``); without them a clear error says so.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from merkit._io import atomic_path, write_text
from merkit.errors import ConfigError, MerkitError
from merkit.training.loop import softmax

__all__ = ["ONNX_FILE", "ONNX_INT8_FILE", "ExportError", "export_onnx", "export_network", "quantize_int8", "onnx_session",
           "OnnxNetwork"]

log = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
ONNX_INT8_FILE = "model.int8.onnx"


class ExportError(MerkitError, RuntimeError):
    """A model could not be exported, or its export does not match PyTorch."""


def _require_onnx() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ConfigError("ONNX export and inference need onnxruntime, onnx and onnxscript: "
                          "pip install 'merkit[onnx]'.") from None
    return onnxruntime


class _Embeddings(nn.Module):
    """The network up to the features an SVC head reads."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_head(self.net.forward_features(x), pre_logits=True)


def onnx_session(path: str | os.PathLike, threads: int = 1) -> Any:
    """An onnxruntime CPU session with all graph optimisations and ``threads`` intra-op threads."""
    ort = _require_onnx()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = max(1, int(threads))
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxNetwork:
    """Runs an exported network: ``(N, ...)`` float32 -> ``(N, K)`` logits or ``(N, D)`` embeddings."""

    def __init__(self, path: str | os.PathLike, threads: int = 1) -> None:
        self.session = onnx_session(path, threads)
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        return self.session.run(None, {self.input_name: x})[0].astype(np.float64)


def _export(module: nn.Module, example: torch.Tensor, target: Path, opset: int) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(module, (example,), str(target), input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, opset_version=opset,
                              dynamo=False)
            return "torchscript"
        except Exception as first:  # noqa: BLE001 - any exporter failure: try the other exporter
            log.info("TorchScript export failed (%s); trying torch.export", first)
            try:
                batch = torch.export.Dim("batch", min=1, max=4096)
                program = torch.onnx.export(module, (example,), dynamo=True, dynamic_shapes=({0: batch},),
                                            opset_version=opset, verbose=False)
                program.save(str(target))
                return "dynamo"
            except Exception as second:  # noqa: BLE001
                raise ExportError(f"{type(module).__name__} could not be exported to ONNX: TorchScript exporter: "
                                  f"{first}; torch.export exporter: {second}") from None


def export_network(module: nn.Module, input_size: tuple[int, ...], target: str | os.PathLike, *, opset: int = 18,
                   tolerance: float = 1e-4, seed: int = 0, svc: Any = None, num_classes: int = 0) -> tuple[str, float]:
    """Export ``module`` (input ``(batch, *input_size)``) to ``target`` and check it against PyTorch.

    The check compares class probabilities (softmax of the outputs, or ``svc``'s probabilities of the
    embeddings) from onnxruntime and PyTorch on random inputs of batch 1 and 3.

    Returns:
        ``(exporter used, worst max-abs probability difference)``.

    Raises:
        ExportError: the export failed or the difference is not below ``tolerance`` (nothing is kept).
    """
    _require_onnx()
    module = module.eval()
    gen = torch.Generator().manual_seed(seed)
    example = torch.rand((2, *input_size), generator=gen)
    with atomic_path(target) as tmp:
        exporter = _export(module, example, tmp, opset)
        network = OnnxNetwork(tmp)
        worst = 0.0
        for batch in (1, 3):
            x = torch.rand((batch, *input_size), generator=gen)
            with torch.no_grad():
                reference = module(x).double().numpy()
            got = network(x.numpy())
            if svc is not None:
                diff = np.abs(svc.predict_proba(got, num_classes) - svc.predict_proba(reference, num_classes)).max()
            else:
                diff = np.abs(softmax(got) - softmax(reference)).max()
            worst = max(worst, float(diff))
        if not worst < tolerance:
            raise ExportError(f"ONNX export of {type(module).__name__} differs from PyTorch by {worst:.2e} in "
                              f"probability (tolerance {tolerance:.0e}); not kept.")
    return exporter, worst


def quantize_int8(source: str | os.PathLike, target: str | os.PathLike, input_size: tuple[int, ...], *,
                  samples: int = 64, seed: int = 0, svc: Any = None, num_classes: int = 0) -> dict:
    """Dynamic int8 quantisation of an exported graph's MatMul/Gemm weights, and what it costs.

    Convolutions stay float32 (int8 convolutions need static quantisation with calibration data).
    The cost is measured against the float32 graph on ``samples`` random inputs, one at a time.

    Returns:
        ``{"max_abs_probability": ..., "same_class": share of unchanged predicted classes}``.
    """
    _require_onnx()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with atomic_path(target) as tmp:
        quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"])
        fp32, int8 = OnnxNetwork(source), OnnxNetwork(tmp)
        x = torch.rand((samples, *input_size), generator=torch.Generator().manual_seed(seed)).numpy()

        def probabilities(network: OnnxNetwork) -> np.ndarray:
            out = np.concatenate([network(x[i : i + 1]) for i in range(samples)])
            return svc.predict_proba(out, num_classes) if svc is not None else softmax(out)

        p32, p8 = probabilities(fp32), probabilities(int8)
    return {"max_abs_probability": float(np.abs(p8 - p32).max()),
            "same_class": float(np.mean(p8.argmax(1) == p32.argmax(1))), "samples": samples}


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
    from merkit.training.bundle import CARD, load_model

    _require_onnx()
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
