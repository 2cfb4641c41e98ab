from __future__ import annotations

from pathlib import Path

import pytest

from tests import tiny


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
