"""The SynthME amplitude ladder: every training method through one honest composite LOSO per amplitude rung.

Modules (each runs as ``python -m benchmarks.studies.ladder.<name>`` from the repository root):

* :mod:`.run`: the entries, ablations and their configs; runs them (resumable).
* :mod:`.report`: the table, cost, ablation directions and plots from the recorded and fresh cells
  (``benchmarks/results/amplitude_ladder.csv``).
* :mod:`.plots`: the two figures (matplotlib only).
* :mod:`.train_fit`: can an entry fit its own training set (one fold, training data only)?
* :mod:`.probe`: fixed linear probes of what one apex image carries.
* :mod:`.dev`: an entry with changes on a development tree the ladder never scores.
* :mod:`.device`: pack an entry's inputs here, train it on the accelerator machine, merge the rows back.
* :mod:`.repeat`: does an entry repeat exactly when run twice?
"""
