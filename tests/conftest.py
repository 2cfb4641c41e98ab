from __future__ import annotations

from pathlib import Path

import pytest

from tests import tiny


@pytest.fixture(autouse=True)
def hub_online_by_default(monkeypatch):
    """Tests that exercise the Hub code use local stand-ins, so they need huggingface_hub "online".

    CI may export HF_HUB_OFFLINE=1 as a guard; huggingface_hub reads it at import, so undo it for
    the test body. Tests of offline mode set it themselves.
    """
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


@pytest.fixture(scope="session")
def full_model_dir(tmp_path_factory) -> Path:
    """A tiny full-model artifact with labels 负面/正面."""
    return tiny.save_full_model(tmp_path_factory.mktemp("full") / "model")


@pytest.fixture(scope="session")
def base_model_dir(tmp_path_factory) -> Path:
    return tiny.save_base_model(tmp_path_factory.mktemp("base") / "base")


@pytest.fixture(scope="session")
def adapter_dir(tmp_path_factory, base_model_dir) -> Path:
    return tiny.save_adapter(tmp_path_factory.mktemp("adapter") / "adapter", base_model_dir)
