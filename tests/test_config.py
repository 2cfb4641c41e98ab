"""AppConfig: every environment variable and every flag reaches its field, bad values are one-line
errors, the token stays hidden, and README's variables table lists exactly the settings."""

from __future__ import annotations

import argparse
import re
from dataclasses import fields
from pathlib import Path

import pytest

from sentiment_app.config import (
    ENV_VARS,
    LIMIT_FLAGS,
    SERVER_FLAGS,
    AppConfig,
    ConfigError,
    add_serving_arguments,
    add_setting_arguments,
    config_from_args,
    describe,
    value_type,
)

ROOT = Path(__file__).resolve().parents[1]
FIELDS = {f.name: f for f in fields(AppConfig)}
ENV_FIELDS = [f for f in fields(AppConfig) if f.metadata["env"]]
FLAG_FIELDS = [f for f in fields(AppConfig) if f.metadata["flag"]]
# README documents what None means for this one rather than the None itself.
README_DEFAULT_OF_NONE = {"SENTIMENT_MODEL_REVISION": "main"}


def other_value(f) -> tuple[str, object]:
    """A valid value for ``f`` that is not its default: (as written in the environment or a flag, as parsed)."""
    kind = value_type(f)
    if kind is bool:
        return ("0" if f.default else "1"), not f.default
    if f.metadata["choices"]:
        choice = next(c for c in f.metadata["choices"] if c != f.default)
        return choice.upper(), choice  # the environment's value is lower-cased; flags take it as written
    if kind is int:
        value = 17 if f.default is None else f.default + 17
        return str(value), value
    if kind is float:
        value = 2.5 if f.default is None else f.default + 2.5
        return str(value), value
    if f.name == "labels":
        return "差,中,好", "差,中,好"
    return "someone/some-model", "someone/some-model"


def all_flags_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_serving_arguments(parser)
    add_setting_arguments(parser, SERVER_FLAGS)
    add_setting_arguments(parser, LIMIT_FLAGS)
    return parser


def env_form(value: object) -> str:
    """A default as README writes it: booleans as 1/0, 50.0 as 50."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def test_every_setting_can_be_set_from_the_environment_or_a_flag():
    assert [f.name for f in fields(AppConfig) if not f.metadata["env"] and not f.metadata["flag"]] == []


@pytest.mark.parametrize("f", ENV_FIELDS, ids=lambda f: f.metadata["env"])
def test_every_environment_variable_sets_its_field(f):
    raw, expected = other_value(f)
    config = AppConfig.from_env({f.metadata["env"]: raw})
    assert getattr(config, f.name) == expected
    untouched = {name: getattr(config, name) for name in FIELDS if name != f.name}
    assert untouched == {name: getattr(AppConfig(), name) for name in FIELDS if name != f.name}


@pytest.mark.parametrize("f", FLAG_FIELDS, ids=lambda f: f.metadata["flag"])
def test_every_flag_sets_its_field_over_the_environment(f):
    raw, expected = other_value(f)
    argv = [f.metadata["flag"]] if value_type(f) is bool else [f.metadata["flag"], str(expected)]
    # The variable, where there is one, says the default; the flag must win.
    environ = {f.metadata["env"]: env_form(f.default)} if f.metadata["env"] and f.default is not None else {}
    config = config_from_args(all_flags_parser().parse_args(argv), environ=environ)
    assert getattr(config, f.name) == expected
    # Flags not given leave the field to the environment (here: its default).
    assert getattr(config_from_args(all_flags_parser().parse_args([]), environ={}), f.name) == f.default


def test_a_given_flag_wins_over_the_variable_and_an_absent_one_does_not():
    parser = all_flags_parser()
    environ = {"SENTIMENT_MAX_LENGTH": "128", "SENTIMENT_PACKED": "0", "SENTIMENT_MODEL": "env/model"}
    config = config_from_args(parser.parse_args(["--max-length", "256"]), environ=environ)
    assert (config.max_length, config.packed, config.model) == (256, False, "env/model")


def test_flag_help_names_its_variable():
    parser = all_flags_parser()
    helps = {action.dest: action.help for action in parser._actions}
    for f in FLAG_FIELDS:
        assert helps[f.name], f.name
        if f.metadata["env"]:
            assert f.metadata["env"] in helps[f.name], f.name


def test_the_batch_cli_has_the_limits_but_never_falls_back():
    from sentiment_app.cli import build_parser

    args = build_parser().parse_args(["predict", "in.csv", "-o", "out.csv", "--max-rows", "5", "--max-file-mb", "1.5"])
    config = config_from_args(args, environ={})
    assert (config.max_rows, config.max_file_mb, config.fallback) == (5, 1.5, True)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["predict", "in.csv", "-o", "out.csv", "--no-fallback"])


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"SENTIMENT_PACKED": "maybe"}, "SENTIMENT_PACKED must be 1 or 0, got 'maybe'"),
        ({"SENTIMENT_MAX_ROWS": "many"}, "SENTIMENT_MAX_ROWS must be a number, got 'many'"),
        ({"SENTIMENT_HUB_TIMEOUT": "soon"}, "SENTIMENT_HUB_TIMEOUT must be a number"),
        ({"SENTIMENT_QUANTIZE": "int4"}, "quantize must be one of none, int8, got 'int4'"),
        ({"SENTIMENT_MAX_LENGTH": "8"}, "max_length must be at least 16 tokens"),
        ({"SENTIMENT_THREADS": "0"}, "threads must be at least 1"),
        ({"SENTIMENT_MAX_BATCH": "0"}, "max_batch must be at least 1"),
        ({"SENTIMENT_MAX_FILE_MB": "0"}, "max_file_mb must be positive"),
    ],
)
def test_bad_values_are_one_line_config_errors(environ, message):
    with pytest.raises(ConfigError) as caught:
        AppConfig.from_env(environ)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_blank_variables_mean_unset_and_unknown_overrides_are_refused():
    assert AppConfig.from_env({"SENTIMENT_MODEL": "  ", "SENTIMENT_MAX_LENGTH": ""}) == AppConfig()
    with pytest.raises(ConfigError, match="unknown settings: colour"):
        AppConfig.from_env({}, colour="red")


def test_the_token_is_never_shown():
    secret = "hf_" + "Qw7" * 12
    config = AppConfig.from_env({"HF_TOKEN": secret})
    assert config.token == secret
    assert secret not in repr(config) and secret not in str(describe(config))
    assert describe(config)["token"] == "set" and describe(AppConfig())["token"] == "not set"
    assert set(describe(config)) == set(FIELDS)


def test_speed_settings_from_env_and_flags():
    config = AppConfig.from_env(
        {"SENTIMENT_BATCH_TOKENS": "2048", "SENTIMENT_PACKED": "0", "SENTIMENT_INT8_ENGINE": "FBGEMM"}
    )
    assert (config.batch_tokens, config.packed, config.int8_engine) == (2048, False, "fbgemm")
    defaults = AppConfig()
    assert (defaults.batch_size, defaults.batch_tokens, defaults.packed, defaults.int8_engine) == (
        64,
        None,
        True,
        "onednn",
    )
    parser = argparse.ArgumentParser()
    add_serving_arguments(parser)
    args = parser.parse_args(["--batch-tokens", "1024", "--no-packed", "--int8-engine", "x86"])
    config = config_from_args(args, environ={})
    assert (config.batch_tokens, config.packed, config.int8_engine) == (1024, False, "x86")
    assert config_from_args(parser.parse_args([]), environ={}).packed is True
    with pytest.raises(ConfigError, match="int8_engine"):
        AppConfig(int8_engine="qnnpack")
    with pytest.raises(ConfigError, match="batch_tokens"):
        AppConfig(batch_tokens=0)


# ---- README ---------------------------------------------------------------------------------


SETTINGS_DOC = ROOT / "docs" / "configuration.md"


def readme_settings_table(column: int = 1) -> dict[str, str]:
    """variable -> a cell (1: default, 2: flag) of docs/configuration.md's table (rows like `A` / `B` | `1` / `2`)."""
    section = SETTINGS_DOC.read_text(encoding="utf-8")
    table: dict[str, str] = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        names = re.findall(r"`([A-Z0-9_]+)`", cells[0])
        defaults = [d.strip() for d in cells[column].split(" / ")] if len(names) > 1 else [cells[column]]
        if len(defaults) == 1 < len(names):  # one cell for all ("— (variable only)")
            defaults *= len(names)
        assert len(defaults) == len(names), line
        table.update(zip(names, defaults))
    return table


def test_readme_documents_every_setting_the_app_reads() -> None:
    readme = SETTINGS_DOC.read_text(encoding="utf-8")
    missing = [name for name in ENV_VARS if f"`{name}`" not in readme]
    assert not missing, f"docs/configuration.md's settings table lacks {missing}"
    front = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/configuration.md" in front.split("## Configure the Space", 1)[1]  # the README links the table


def test_settings_table_says_which_settings_have_a_flag() -> None:
    """The flag column names each setting's flag, or says it is set in the environment only."""
    flags = readme_settings_table(column=2)
    for var, cell in flags.items():
        flag = FIELDS[ENV_VARS[var][0]].metadata["flag"]
        assert (f"`{flag}`" == cell) if flag else cell.startswith("—"), (var, cell)


def test_readme_variables_table_lists_exactly_the_settings_with_their_defaults():
    table = readme_settings_table()
    settings = {name for name in ENV_VARS if not FIELDS[ENV_VARS[name][0]].metadata["secret"]}
    assert set(table) == settings  # HF_TOKEN is documented as a secret below the table
    for var, cell in table.items():
        default = FIELDS[ENV_VARS[var][0]].default
        literal = re.fullmatch(r"`([^`]*)`", cell)
        if default is None:
            assert literal is None or literal.group(1) == README_DEFAULT_OF_NONE.get(var), (var, cell)
        else:
            assert literal and literal.group(1) == env_form(default), (var, cell, default)
