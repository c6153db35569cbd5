"""Ember's one door to the third-party runtimes that report usage by default: ONNX Runtime,
OpenVINO and NNCF are imported only through :func:`import_onnxruntime`,
:func:`import_openvino` and :func:`import_nncf`, which turn that reporting off first.

A server must not phone home. Measured with the versions Ember pins:

- ``onnxruntime`` 1.29+ on Linux records a device id (``~/.cache/Microsoft/DeveloperTools/``),
  a ``ProcessInfo`` event per process and session, model, error and performance events (the
  executable's path, the model's file and graph names, error messages) in a local database and
  uploads them to ``mobile.events.data.microsoft.com``, unless ``ORT_DISABLE_TELEMETRY`` is set
  before the module is first imported (it is read once, at import).
- ``import openvino`` sends a Google Analytics event, and NNCF one per quantize, each from a
  process forked off the server (gRPC logged a warning per fork). Both fall back to no-op stubs
  when ``openvino_telemetry`` cannot be imported.

A process that imported one of these before Ember keeps its setting: that was its own choice,
as is an ``ORT_DISABLE_TELEMETRY=0`` in the environment.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def import_onnxruntime() -> Any:
    """The ``onnxruntime`` module, imported with its usage telemetry off. Call it before any
    ``from onnxruntime.<sub> import ...``: the setting is read when the top module loads."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime

    return onnxruntime


def _openvino_telemetry_off() -> None:
    # A None entry in sys.modules makes `import openvino_telemetry` fail, and OpenVINO and NNCF
    # then use their own no-op stubs.
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]


def import_openvino() -> Any:
    """The ``openvino`` module, imported with its usage telemetry off."""
    _openvino_telemetry_off()
    import openvino

    return openvino


def import_nncf() -> Any:
    """The ``nncf`` module (OpenVINO's quantizer), imported with its usage telemetry off."""
    _openvino_telemetry_off()
    import nncf

    return nncf
