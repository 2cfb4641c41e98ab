"""sentiment_app.model.artifact: the training/serving contract.

``validate_artifact`` is checked from both sides: complete adapter and full-model folders pass,
and each single way of breaking the contract is reported, alone and by name, so dropping or
weakening any one check fails a test here. The folders hold the contract's files with
placeholder weights: nothing here loads a model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from sentiment_app.model.artifact import (
    HUB_ALLOW_PATTERNS,
    PICKLE_WEIGHT_FILES,
    ArtifactError,
    artifact_kind,
    label_maps,
    read_json,
    read_labels,
    validate_artifact,
    write_labels,
)

CARD = "---\nlibrary_name: peft\ntags:\n- sentiment-analysis\n---\n\n# A model\n"


def _common(folder: Path) -> None:
    (folder / "tokenizer_config.json").write_text("{}", encoding="utf-8")
    (folder / "tokenizer.json").write_text("{}", encoding="utf-8")
    write_labels(folder, ["负面", "正面"])
    (folder / "metrics.json").write_text('{"validation": {"accuracy": 0.9}}', encoding="utf-8")
    (folder / "README.md").write_text(CARD, encoding="utf-8")


def adapter_folder(folder: Path) -> Path:
    """A complete adapter artifact (placeholder weight bytes)."""
    folder.mkdir()
    config = {"base_model_name_or_path": "bert-base-chinese", "modules_to_save": ["classifier"], "r": 8}
    (folder / "adapter_config.json").write_text(json.dumps(config), encoding="utf-8")
    (folder / "adapter_model.safetensors").write_bytes(b"weights")
    _common(folder)
    return folder


def full_folder(folder: Path) -> Path:
    """A complete full-model artifact (placeholder weight bytes)."""
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}), encoding="utf-8")
    (folder / "model.safetensors").write_bytes(b"weights")
    _common(folder)
    return folder


def _edit_json(name: str, change: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        data = json.loads((folder / name).read_text(encoding="utf-8"))
        change(data)
        (folder / name).write_text(json.dumps(data), encoding="utf-8")

    return edit


def _remove(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).unlink()


def _write(name: str, text: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_text(text, encoding="utf-8")


@pytest.mark.parametrize("make", [adapter_folder, full_folder])
def test_complete_folders_pass(tmp_path, make):
    assert validate_artifact(make(tmp_path / "a")) == []


def test_a_sharded_full_model_is_complete(tmp_path):
    folder = full_folder(tmp_path / "a")
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors.index.json").write_text('{"weight_map": {}}', encoding="utf-8")
    assert artifact_kind(folder) == "full" and validate_artifact(folder) == []


# Each case breaks the contract once; the problem list must be exactly one line saying so.
BROKEN = [
    ("pickle beside safetensors", adapter_folder, _write("pytorch_model.bin", "x"), "pickle weights present"),
    (
        "adapter without base",
        adapter_folder,
        _edit_json("adapter_config.json", lambda c: c.pop("base_model_name_or_path")),
        "base_model_name_or_path",
    ),
    (
        "adapter without head",
        adapter_folder,
        _edit_json("adapter_config.json", lambda c: c.update(modules_to_save=None)),
        "classifier head",
    ),
    (
        "adapter with another saved module",
        adapter_folder,
        _edit_json("adapter_config.json", lambda c: c.update(modules_to_save=["pooler"])),
        "classifier head",
    ),
    ("no tokenizer config", full_folder, _remove("tokenizer_config.json"), "tokenizer files missing"),
    ("no vocabulary", full_folder, _remove("tokenizer.json"), "tokenizer files missing"),
    ("no labels", full_folder, _remove("labels.json"), "label names missing"),
    ("broken labels.json", full_folder, _write("labels.json", '{"names": ["a", "b"]}'), "labels.json is not valid"),
    ("one label", full_folder, _write("labels.json", '{"labels": ["only"]}'), "fewer than two labels"),
    ("no metrics", adapter_folder, _remove("metrics.json"), "metrics.json missing"),
    ("broken metrics", adapter_folder, _write("metrics.json", "{not json"), "cannot read"),
    ("metrics not an object", adapter_folder, _write("metrics.json", "[1, 2]"), "does not hold a JSON object"),
    ("no card", full_folder, _remove("README.md"), "model card README.md missing"),
    ("card without metadata", full_folder, _write("README.md", "# A model\n"), "no YAML metadata block"),
    (
        "card with an unclosed block",
        full_folder,
        _write("README.md", "---\ntags: [x]\n# A model\n"),
        "no YAML metadata block",
    ),
]


@pytest.mark.parametrize("make, breaks, expected", [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN])
def test_each_broken_contract_is_reported_alone(tmp_path, make, breaks, expected):
    folder = make(tmp_path / "a")
    breaks(folder)
    problems = validate_artifact(folder)
    assert len(problems) == 1 and expected in problems[0], problems


# Folders that are not an artifact at all: artifact_kind says why, and validate_artifact reports only that.
NOT_AN_ARTIFACT = [
    ("missing folder", lambda d: None, "does not exist"),
    ("empty folder", lambda d: d.mkdir(), "neither a PEFT adapter"),
    (
        "adapter config without weights",
        lambda d: (adapter_folder(d), _remove("adapter_model.safetensors")(d)),
        "no adapter_model.safetensors",
    ),
    (
        "adapter with pickle weights only",
        lambda d: (adapter_folder(d), _remove("adapter_model.safetensors")(d), _write("adapter_model.bin", "x")(d)),
        "only pickle weights (adapter_model.bin)",
    ),
    (
        "model config without weights",
        lambda d: (full_folder(d), _remove("model.safetensors")(d)),
        "no model.safetensors",
    ),
    (
        "model with pickle weights only",
        lambda d: (full_folder(d), _remove("model.safetensors")(d), _write("pytorch_model.bin", "x")(d)),
        "only pickle weights (pytorch_model.bin)",
    ),
]


@pytest.mark.parametrize(
    "make, expected", [case[1:] for case in NOT_AN_ARTIFACT], ids=[case[0] for case in NOT_AN_ARTIFACT]
)
def test_a_folder_that_is_no_artifact_says_why(tmp_path, make, expected):
    folder = tmp_path / "a"
    make(folder)
    with pytest.raises(ArtifactError, match=re.escape(expected)) as caught:
        artifact_kind(folder)
    assert validate_artifact(folder) == [str(caught.value)]


def test_adapter_wins_over_a_stray_config_json(tmp_path):
    folder = adapter_folder(tmp_path / "a")
    (folder / "config.json").write_text("{}", encoding="utf-8")
    assert artifact_kind(folder) == "adapter"


def test_every_problem_is_listed_at_once(tmp_path):
    folder = adapter_folder(tmp_path / "a")
    for name in ("labels.json", "metrics.json", "README.md"):
        (folder / name).unlink()
    assert len(validate_artifact(folder)) == 3


# ---- labels ---------------------------------------------------------------------------------


def test_labels_round_trip_in_class_order(tmp_path):
    write_labels(tmp_path, ["差评", "中评", "好评"])
    assert read_labels(tmp_path) == ["差评", "中评", "好评"]
    assert json.loads((tmp_path / "labels.json").read_text(encoding="utf-8")) == {"labels": ["差评", "中评", "好评"]}


@pytest.mark.parametrize("labels", [["only"], ["a", "a"], []])
def test_write_labels_refuses_fewer_than_two_distinct(tmp_path, labels):
    with pytest.raises(ArtifactError, match="at least two distinct"):
        write_labels(tmp_path, labels)
    assert not (tmp_path / "labels.json").exists()


def test_labels_from_config_json_unless_generic(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"id2label": {"1": "正面", "0": "负面"}}), encoding="utf-8")
    assert read_labels(tmp_path) == ["负面", "正面"]  # by index, not by key order
    (tmp_path / "config.json").write_text(json.dumps({"id2label": {"0": "LABEL_0", "1": "LABEL_1"}}), encoding="utf-8")
    assert read_labels(tmp_path) is None
    write_labels(tmp_path, ["neg", "pos"])
    assert read_labels(tmp_path) == ["neg", "pos"]  # labels.json wins


def test_label_maps_for_a_transformers_config():
    assert label_maps(["负面", "正面"]) == {
        "num_labels": 2,
        "id2label": {0: "负面", 1: "正面"},
        "label2id": {"负面": 0, "正面": 1},
    }


def test_read_json_errors_are_one_line(tmp_path):
    with pytest.raises(ArtifactError, match="cannot read"):
        read_json(tmp_path / "missing.json")
    (tmp_path / "list.json").write_text("[]", encoding="utf-8")
    with pytest.raises(ArtifactError, match="does not hold a JSON object"):
        read_json(tmp_path / "list.json")


def test_the_hub_download_never_fetches_pickles():
    from fnmatch import fnmatch

    for name in (n for n in PICKLE_WEIGHT_FILES if not n.endswith(".json")):  # an index alone loads nothing
        assert not any(fnmatch(name, pattern) for pattern in HUB_ALLOW_PATTERNS), name
    for name in ("adapter_model.safetensors", "config.json", "tokenizer.json", "vocab.txt", "README.md"):
        assert any(fnmatch(name, pattern) for pattern in HUB_ALLOW_PATTERNS), name
