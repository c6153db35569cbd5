"""The interpreter switch interval the server sets after loading its engine."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from ember.service.server import CUDA_SWITCH_INTERVAL_MS, _set_switch_interval


@pytest.fixture(autouse=True)
def restore_interval() -> Iterator[None]:
    saved = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    yield
    sys.setswitchinterval(saved)


def test_cpu_engines_keep_pythons_default() -> None:
    assert _set_switch_interval(None, "cpu") is None
    assert sys.getswitchinterval() == pytest.approx(0.005)


@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_engines_get_a_short_interval(device: str) -> None:
    assert _set_switch_interval(None, device) == pytest.approx(0.005)  # the one to restore
    assert sys.getswitchinterval() == pytest.approx(CUDA_SWITCH_INTERVAL_MS / 1000)
    assert CUDA_SWITCH_INTERVAL_MS < 5


def test_an_explicit_setting_wins_on_any_device() -> None:
    _set_switch_interval(2.5, "cpu")
    assert sys.getswitchinterval() == pytest.approx(0.0025)


def test_a_non_positive_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        _set_switch_interval(0.0, "cuda")
