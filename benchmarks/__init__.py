"""merkit's benchmarks: ``perf`` (speed and cost), ``studies`` (accuracy studies on SynthME) and ``tables``.

Run them from the repository root as modules, e.g. ``python -m benchmarks.perf.face``; what each one
measures and which BENCHMARKS.md table it feeds is in benchmarks/README.md.
"""
