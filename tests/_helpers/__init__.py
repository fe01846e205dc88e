"""Plain helpers shared by test modules (no fixtures: those live in conftest.py files and may call these).

* :mod:`tests._helpers.tables`: small generated sample tables, learnable inputs and feature files.
* :mod:`tests._helpers.folds`: fold tasks and the honesty check (test labels changed, same probabilities).
* :mod:`tests._helpers.methods`: a tiny, fast instance of every registered method (the method contract).
* :mod:`tests._helpers.evaluation`: a feature column and a trivial fit-predict for the evaluation runner.
* :mod:`tests._helpers.images`: known image transforms.

A test module imports from here, never from a conftest.py or from another test module.
"""
