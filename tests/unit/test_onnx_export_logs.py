"""The first start's ONNX export logs Ember's own lines, not one per fusion from ONNX Runtime's
graph optimizer (which logs under bare module names such as ``fusion_base``)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ember.engines.model_folder import inspect_model_folder
from ember.engines.onnx_export import graph_path
from ember.service.default_model import default_model_path


def test_export_logs_one_fusion_summary(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    graph = graph_path(inspect_model_folder(Path(default_model_path())), None, tmp_path)
    assert graph.is_file()
    sources = {record.name for record in caplog.records if record.levelno >= logging.INFO}
    assert sources == {"ember.engines.onnx_export"}, sources
    fusion = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ONNX fusion")]
    (summary,) = fusion
    assert "'Attention': 6" in summary
