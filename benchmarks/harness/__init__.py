"""The benchmark harness: the pieces every plan (``benchmarks.run``, ``benchmarks.gpu.run``)
and the other benchmark scripts share, one of each.

- :mod:`~benchmarks.harness.workloads`: the text workloads (long inputs, ~5-token inputs) with
  their real token counts; the texts themselves come from :mod:`benchmarks.corpus`.
- :mod:`~benchmarks.harness.loadgen`: the load generator and its HTTP/1.1 client, gRPC and
  baseten-performance-client senders; a fixed list in-process or timed worker processes.
- :mod:`~benchmarks.harness.servers`: the server peers as processes (``ember serve`` variants,
  Infinity in its own virtual environment); :mod:`~benchmarks.harness.serverpath`: a prebuilt
  engine served in-process as ``ember serve`` wires it, and the pool of load-generator processes.
- :mod:`~benchmarks.harness.peers`: sentence-transformers ``encode`` in-process.
- :mod:`~benchmarks.harness.timing`: the warm-up / repeat-to-a-time-target / median loop.
- :mod:`~benchmarks.harness.machine`: the machine record (ISA class, GPU card, load, versions,
  commit, date, exact command).
- :mod:`~benchmarks.harness.runner`: named sections against a soft deadline, results written
  after every one.
- :mod:`~benchmarks.harness.report`: the writer of a results folder (``results.json`` ->
  ``RESULTS.md`` + ``results.png``), also a command that regenerates folders from their JSON.
- :mod:`~benchmarks.harness.bootstrap`: ``import ember`` from the working tree on a machine
  without an install (the GPU device machine).
"""
