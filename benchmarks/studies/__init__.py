"""Accuracy studies on SynthME: the amplitude ladder (``ladder``), the seeds' ablations and run comparisons."""
