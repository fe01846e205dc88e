"""ONNX graphs: export a torch module checked against PyTorch, quantise it, run it with onnxruntime.

Knows nothing of model bundles (:mod:`merkit.deploy.export` writes a bundle's graph with these).

Exporter: PyTorch's TorchScript-based exporter (``dynamo=False``), which
exports every registered model but MOL; MOL's F5C block builds convolution
kernels from data, which only the ``torch.export`` based exporter
(``dynamo=True``) handles, so it is tried next. Either way the export is
kept only if onnxruntime's probabilities on random inputs of batch 1 and 3
match PyTorch's within ``tolerance`` (1e-4, max absolute difference).

Needs the optional packages ``onnx``, ``onnxscript`` and ``onnxruntime``
(``pip install 'merkit[onnx]'``); without them a clear error says so.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from merkit._io import atomic_path
from merkit.errors import ConfigError, MerkitError
from merkit.training.loop import softmax

__all__ = ["ExportError", "export_network", "quantize_int8", "onnx_session", "OnnxNetwork", "require_onnx"]

log = logging.getLogger(__name__)


class ExportError(MerkitError, RuntimeError):
    """A model could not be exported, or its export does not match PyTorch."""


def require_onnx() -> Any:
    try:
        import onnxruntime  # optional extra (merkit[onnx]); deferred so that deploy imports without it
    except ImportError:
        raise ConfigError("ONNX export and inference need onnxruntime, onnx and onnxscript: "
                          "pip install 'merkit[onnx]'.") from None
    return onnxruntime


def onnx_session(path: str | os.PathLike, threads: int = 1) -> Any:
    """An onnxruntime CPU session with all graph optimisations and ``threads`` intra-op threads."""
    ort = require_onnx()
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
    require_onnx()
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
    require_onnx()
    from onnxruntime.quantization import QuantType, quantize_dynamic  # optional extra, checked just above

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
