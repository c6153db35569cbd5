"""Ember's benchmarks: one harness (``benchmarks.harness``) and two plans over it, the CPU run
(``python -m benchmarks.run``, ``make bench``) and the GPU run (``benchmarks.gpu.run``). Numbers
live in ``results-<machine kind>/RESULTS.md`` with the command, machine and peers of the run
that produced them, regenerated from the folder's ``results.json``; never in tests."""
