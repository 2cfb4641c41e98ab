"""app.py: configuration mistakes and unloadable models end in one line and exit code 2; --help lists the flags."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import app
from tests.fake_hub import refused_endpoint

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("SENTIMENT_MODEL", "SENTIMENT_QUANTIZE", "SENTIMENT_FALLBACK", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))


def test_bad_setting_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv("SENTIMENT_QUANTIZE", "int4")
    assert app.main([]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: quantize must be one of none, int8") and "\n" not in err


def test_missing_model_without_fallback_exits_2(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("SENTIMENT_FALLBACK", "0")
    assert app.main(["--model", str(tmp_path / "nope" / "model")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: model folder") and "does not exist" in err and "\n" not in err


def test_unreachable_hub_without_fallback_exits_2_and_hides_the_token(monkeypatch, capsys):
    secret = "hf_" + "Zz9" * 12
    monkeypatch.setenv("HF_ENDPOINT", refused_endpoint())
    monkeypatch.setenv("HF_TOKEN", secret)
    assert app.main(["--model", "team/sentiment-lora", "--no-fallback"]) == 2
    captured = capsys.readouterr()
    assert "cannot reach the Hub" in captured.err and secret not in captured.err + captured.out


def test_help_lists_the_serving_flags():
    out = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--help"], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0
    for flag in ("--model", "--revision", "--quantize", "--host", "--port", "--share", "--no-fallback"):
        assert flag in out.stdout


def test_credentials_in_hf_endpoint_never_reach_the_output(monkeypatch, capsys):
    import secrets

    password = "pw" + secrets.token_hex(8)
    monkeypatch.setenv("HF_ENDPOINT", refused_endpoint().replace("http://", f"http://mirror-user:{password}@"))
    assert app.main(["--model", "team/sentiment-lora", "--no-fallback"]) == 2
    captured = capsys.readouterr()
    assert "cannot reach the Hub at http://***@127.0.0.1" in captured.err
    assert password not in captured.err + captured.out and "mirror-user" not in captured.err
