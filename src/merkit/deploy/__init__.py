"""Deploy: what runs after training.

Model bundles (:mod:`~merkit.deploy.bundle`: ``save_bundle``, ``load_model``, ``LoadedModel``),
ONNX graphs that know nothing of bundles (:mod:`~merkit.deploy.onnx`), a bundle's ONNX export
(:mod:`~merkit.deploy.export`) and spot-then-classify on a user's video (:mod:`~merkit.deploy.video`).
"""

from merkit.deploy.bundle import LoadedModel, load_model, save_bundle
from merkit.deploy.export import export_onnx

__all__ = ["LoadedModel", "export_onnx", "load_model", "save_bundle"]
