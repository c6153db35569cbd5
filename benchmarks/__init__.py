"""Ember's benchmarks: the CPU harness (``python -m benchmarks.run``, ``make bench``) and the GPU
harness (``benchmarks.gpu``). Numbers live in ``RESULTS.md`` files with the command, machine and
peers of the run that produced them; never in tests."""
