"""sentiment_app.errors: one line per exception, secrets masked wherever text is shown or logged.

Fake tokens and passwords are built at run time, so no secret-shaped string sits in the repository.
"""

from __future__ import annotations

import io
import logging
import secrets

import pytest

from sentiment_app.errors import (
    MASK,
    RedactingFilter,
    RedactingStream,
    first_line,
    hide_paths,
    redact,
    redacted_error,
)


def fake_token() -> str:
    return "hf_" + secrets.token_hex(17)


def fake_password() -> str:
    return "pw" + secrets.token_hex(6)


@pytest.mark.parametrize(
    "exc, want",
    [
        (ValueError(), "ValueError"),  # no message: its type, never an IndexError
        (OSError(""), "OSError"),
        (RuntimeError("\n\n   \n"), "RuntimeError"),  # only blank lines
        (KeyError("x"), "'x'"),
        (RuntimeError("\n  first\nsecond"), "first"),
    ],
)
def test_first_line(exc, want):
    assert first_line(exc) == want


def test_first_line_is_cut_to_the_limit():
    line = first_line(ValueError("x" * 500), limit=100)
    assert len(line) == 100 and line.endswith("…")


def test_redact_masks_url_credentials_query_tokens_and_hf_tokens():
    token, password = fake_token(), fake_password()
    cases = {
        f"HF_ENDPOINT=https://alice:{password}@hf-mirror.example/api": password,
        f"proxy http://{password}@10.0.0.1:3128 refused": password,  # a bare token as userinfo
        f"GET https://hub.example/models?x=1&access_token={password}&y=2": password,
        f"see https://hub.example/a#sig={password}": password,
        f"Authorization failed for {token}": token,  # token shape, wherever it is
    }
    for text, secret in cases.items():
        clean = redact(text)
        assert secret not in clean and MASK in clean, (text, clean)
    assert redact(f"x=1&access_token={password}&y=2").endswith("&y=2")  # the rest of the query stays


def test_redact_masks_given_secrets_and_keeps_plain_text():
    secret = fake_password()
    assert redact(f"token {secret} in a message", secret) == f"token {MASK} in a message"
    plain = "cannot reach the Hub at https://huggingface.co to fetch team/model: check the network"
    assert redact(plain) == plain
    assert redact("a short secret", "a") == "a short secret"  # one letter is not searched for


def test_redacted_error_is_one_masked_line():
    password = fake_password()
    exc = ConnectionError(f"cannot connect to https://u:{password}@mirror.example\ndetails")
    assert redacted_error(exc) == f"cannot connect to https://{MASK}@mirror.example"


def test_hide_paths_keeps_urls_and_repo_ids():
    text = "cannot load the model in /srv/app/models/x: see https://huggingface.co/team/model or team/model"
    assert hide_paths(text) == "cannot load the model in …/x: see https://huggingface.co/team/model or team/model"


def test_log_filter_masks_records_and_tracebacks():
    password = fake_password()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    log = logging.getLogger("test_errors.redaction")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("endpoint %s unreachable", f"https://bob:{password}@mirror.example")
        try:
            raise RuntimeError(f"boom at https://bob:{password}@mirror.example")
        except RuntimeError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    out = stream.getvalue()
    assert password not in out and "unreachable" in out and "Traceback" in out and "RuntimeError" in out


def test_stream_wrapper_masks_what_is_written():
    token = fake_token()
    sink = io.StringIO()
    stream = RedactingStream(sink, [token])
    print(f"Running with {token} at http://u:{token}@127.0.0.1", file=stream)
    assert token not in sink.getvalue() and sink.getvalue().endswith("@127.0.0.1\n")


def test_training_uses_the_same_helpers():
    import sentiment_app.errors as shared
    import training.errors as training_errors

    assert training_errors.first_line is shared.first_line and training_errors.redact is shared.redact


def test_model_load_errors_never_raise_index_error_and_are_redacted(monkeypatch, tmp_path):
    from transformers import AutoConfig

    from sentiment_app.config import AppConfig
    from sentiment_app.model import loading
    from tests import tiny

    folder = tiny.save_full_model(tmp_path / "model")

    def fails(*_args, **_kwargs):
        raise OSError()  # no message: str(exc).splitlines()[0] raised IndexError here

    monkeypatch.setattr(AutoConfig, "from_pretrained", fails)
    with pytest.raises(loading.ModelLoadError, match="OSError"):
        loading._load_full(folder, None, AppConfig())
    message = loading._hub_error_message("team/x", None, None, RuntimeError())
    assert message.endswith("RuntimeError: RuntimeError")
    password = fake_password()
    assert password not in str(loading.ModelLoadError(f"cannot reach https://u:{password}@mirror.example"))
