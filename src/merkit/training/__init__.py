"""Training: how a model learns (no files, run directories or bundles).

The ``[train]``/``[grid]`` settings (:mod:`~merkit.training.settings`), the one training loop
(:mod:`~merkit.training.loop`), SVM and hinge heads (:mod:`~merkit.training.heads`), flow-aware
augmentation, identity-adversarial adaptation, nested grid search, and the registered methods
(:mod:`merkit.training.methods`).
"""

from merkit.training.loop import TrainHistory, predict_proba, train_loop
from merkit.training.methods import Method, create_method, get_method, list_methods, register_method
from merkit.training.settings import GridConfig, TrainConfig

__all__ = ["GridConfig", "Method", "TrainConfig", "TrainHistory", "create_method", "get_method", "list_methods",
           "predict_proba", "register_method", "train_loop"]
