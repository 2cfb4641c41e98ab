"""sentiment_app.limits: every payload shape meets the same per-text and per-call limits."""

from __future__ import annotations

import math

import pytest

from sentiment_app.limits import (
    EMPTY_MESSAGE,
    TextLimits,
    TextRefused,
    check_call,
    check_table_size,
    check_text,
    check_texts,
)

LIMITS = TextLimits(max_text_chars=100, max_call_texts=3, max_call_chars=150)


@pytest.mark.parametrize(
    "value, message",
    [
        (None, EMPTY_MESSAGE),
        (math.nan, EMPTY_MESSAGE),
        ("", EMPTY_MESSAGE),
        ("  \n\t", EMPTY_MESSAGE),
        (123, "must be a string, got a number"),
        (1.5, "must be a string, got a number"),
        (True, "must be a string, got a boolean"),
        ({"text": "好"}, "must be a string, got an object"),
        (["好"], "must be a string, got a list"),
        ("好" * 101, "Text too long (101 characters, limit 100)"),
        (" " * 101, "Text too long"),  # length is checked before anything reads the text
        ("好\ud800评", "character 2 is a lone surrogate"),
    ],
)
def test_check_text_refuses(value, message):
    with pytest.raises(TextRefused, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_text(value, LIMITS)


def test_check_text_passes_real_text_unchanged():
    text = "好" * 100
    assert check_text(text, LIMITS) is text
    assert check_text(None, LIMITS, allow_blank=True) == ""


def test_check_call_counts_texts_and_characters():
    assert check_call(["a", 1, None], LIMITS) == ["a", 1, None]  # items are each checked later
    with pytest.raises(TextRefused, match="At most 3 texts per call, got 4"):
        check_call(["a"] * 4, LIMITS)
    with pytest.raises(TextRefused, match="holds 160 characters, limit 150"):
        check_call(["a" * 80, "b" * 80], LIMITS)
    with pytest.raises(TextRefused, match="Expected a list"):
        check_call({"a": 1}, LIMITS)


def test_check_texts_names_the_bad_item():
    assert check_texts(("好", "差"), LIMITS) == ["好", "差"]
    with pytest.raises(TextRefused, match="text 2: .*got a number"):
        check_texts(["好", 5], LIMITS)


def test_table_size_is_bounded_before_rows_are_read():
    check_table_size(12, LIMITS)
    with pytest.raises(TextRefused, match="13 rows"):
        check_table_size(13, LIMITS)


def test_limits_must_be_positive():
    with pytest.raises(ValueError, match="max_call_texts"):
        TextLimits(max_call_texts=0)


def test_config_carries_the_limits():
    from sentiment_app.config import AppConfig, ConfigError

    config = AppConfig.from_env(
        {"SENTIMENT_MAX_TEXT_CHARS": "500", "SENTIMENT_MAX_CALL_TEXTS": "7", "SENTIMENT_MAX_CALL_CHARS": "900"}
    )
    assert config.text_limits == TextLimits(500, 7, 900)
    with pytest.raises(ConfigError, match="max_call_chars"):
        AppConfig(max_call_chars=0)
