import importlib.util

import pytest

from workflow.errors import TensorRTUnavailable
from workflow.trt import module


def test_rtx_is_found_without_importing_it():
    import sys

    sys.modules.pop("tensorrt_rtx", None)
    assert module.resolve_module("tensorrt_rtx") == "tensorrt_rtx"
    assert "tensorrt_rtx" not in sys.modules
    assert module.tensorrt_identity("tensorrt_rtx").startswith("tensorrt_rtx 1.")


def test_auto_prefers_full_tensorrt(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    assert module.resolve_module("auto") == "tensorrt"


def test_nothing_installed_says_what_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(TensorRTUnavailable, match=r"pip install -e '\.\[rtx\]'"):
        module.resolve_module("auto")
    with pytest.raises(TensorRTUnavailable, match="tensorrt is not installed"):
        module.import_tensorrt("tensorrt")
    assert module.tensorrt_identity("auto") == "none"


def test_unknown_choice():
    with pytest.raises(TensorRTUnavailable, match="use auto, tensorrt or tensorrt_rtx"):
        module.resolve_module("tensorflow")


def test_identity_follows_the_installed_version(monkeypatch):
    """The identity is the engine rules' ``tensorrt`` param: a new version rebuilds the engines."""
    monkeypatch.setattr(module, "module_version", lambda name: "10.13.0")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    assert module.tensorrt_identity("auto") == "tensorrt 10.13.0"
    monkeypatch.setattr(module, "module_version", lambda name: "11.4.0")
    assert module.tensorrt_identity("auto") == "tensorrt 11.4.0"
