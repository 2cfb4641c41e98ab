"""Label order (training/labels.py, data.encode_labels): the base's head first, then the documented rule."""

from __future__ import annotations

import pytest

from training import data
from training.errors import UserError
from training.labels import choose_order, head_label_names, rule_order, star_count


@pytest.mark.parametrize(
    "labels, expected",
    [
        (["正面", "负面"], ["负面", "正面"]),
        (["好评", "差评"], ["差评", "好评"]),
        (["positive", "negative"], ["negative", "positive"]),
        (["Positive", "Negative", "Neutral"], ["Negative", "Neutral", "Positive"]),
        (["pos", "neg"], ["neg", "pos"]),
        (["积极", "消极"], ["消极", "积极"]),
        (["正面", "中性", "负面"], ["负面", "中性", "正面"]),
        (["好评", "中评", "差评"], ["差评", "中评", "好评"]),
        (["positive", "neutral", "negative"], ["negative", "neutral", "positive"]),
        (["满意", "不满意"], ["不满意", "满意"]),
    ],
)
def test_sentiment_names_go_negative_first(labels, expected):
    assert rule_order(labels) == (expected, "the usual sentiment names, negative first")


@pytest.mark.parametrize(
    "labels, expected",
    [
        (["10", "2", "-1"], ["-1", "2", "10"]),
        (["0.5", "0.25", "1"], ["0.25", "0.5", "1"]),
    ],
)
def test_numbers_go_by_value(labels, expected):
    assert rule_order(labels) == (expected, "numbers, by value")


@pytest.mark.parametrize(
    "labels, expected",
    [
        (["5★", "1★", "3★", "10★"], ["1★", "3★", "5★", "10★"]),
        (["★★★", "★", "★★"], ["★", "★★", "★★★"]),
        (["五星", "一星", "三星"], ["一星", "三星", "五星"]),
        (["5星", "1星", "2星"], ["1星", "2星", "5星"]),
        (["3 stars", "1 star"], ["1 star", "3 stars"]),
    ],
)
def test_stars_go_by_count(labels, expected):
    assert rule_order(labels) == (expected, "stars, by count")


def test_star_count():
    assert [star_count(s) for s in ("1★", "★★★★", "四星", "2 stars", "星", "good")] == [1, 4, 4, 2, None, None]


@pytest.mark.parametrize("labels", [["sports", "arts"], ["负面", "正面", "其他"], ["1★", "good"]])
def test_anything_else_keeps_code_point_order(labels):
    order, why = rule_order(labels)
    assert order == sorted(labels) and "--label-names" in why


def test_the_base_head_order_wins_when_it_names_the_same_set():
    assert choose_order(["负面", "正面"], ["正面", "负面"])[0] == ["正面", "负面"]
    assert choose_order(["好评", "差评"], ["负面", "正面"])[0] == ["差评", "好评"]  # other names: the rule


def test_head_label_names_ignores_generic_names():
    class Config:
        def __init__(self, id2label):
            self.id2label = id2label

    assert head_label_names(Config({0: "LABEL_0", 1: "LABEL_1"})) is None
    assert head_label_names(Config({1: "正面", 0: "负面"})) == ["负面", "正面"]
    assert head_label_names(Config({})) is None


def test_encode_labels_follows_the_base_head_and_says_so(capsys):
    ids, names = data.encode_labels({"train": ["正面", "负面", "正面"], "validation": ["负面"]}, None, ["正面", "负面"])
    assert names == ["正面", "负面"] and ids == {"train": [0, 1, 0], "validation": [1]}
    assert "labels: 正面, 负面 (the order of the base model's classification head)" in capsys.readouterr().out


def test_dataset_names_are_reordered_to_the_base_head():
    """Integer labels named by the dataset (ChnSentiCorp: 0 负面, 1 正面) on a base whose head reads 正面, 负面."""
    ids, names = data.encode_labels({"train": [0, 1, 1]}, ["负面", "正面"], ["正面", "负面"])
    assert names == ["正面", "负面"] and ids["train"] == [1, 0, 0]


def test_label_names_override_the_head_with_a_note(capsys):
    ids, names = data.encode_labels({"train": ["负面", "正面"]}, ["正面", "负面"], ["负面", "正面"], names_given=True)
    assert names == ["正面", "负面"] and ids["train"] == [1, 0]
    out = capsys.readouterr().out
    assert "warning: --label-names orders the classes 正面, 负面, but the base's head reads 负面, 正面" in out
    assert "the head's answers will come out swapped" in out
    data.encode_labels({"train": [0, 1]}, ["正面", "负面"], ["负面", "正面"], names_given=True)
    assert "the integer labels' names will come out swapped" in capsys.readouterr().out
    assert "labels: 正面, 负面 (--label-names)" in out


@pytest.mark.parametrize(
    "raw, names",
    [
        ({"train": ["负面", "正面"]}, ["负面", "中性", "正面"]),  # a string name no training row has
        ({"train": [0, 1, 0]}, ["负面", "正面", "中性"]),  # an index no training row has
    ],
)
def test_label_names_the_data_lacks_are_an_error(raw, names):
    with pytest.raises(UserError, match="--label-names names 中性, which no training row has"):
        data.encode_labels(raw, names, names_given=True)


def test_label_names_the_data_lacks_exit_2_with_one_line(tmp_path, capsys):
    from tests import tiny
    from training.train_and_push import main

    tiny.write_reviews(tmp_path / "train.csv", tiny.REVIEWS)
    argv = ["--base-model", "scratch", "--full-finetune", "--label-names", "负面,中性,正面", "--output-dir"]
    code = main(
        [*argv, str(tmp_path / "out"), "--train-file", str(tmp_path / "train.csv")]
        + [
            "--validation-file",
            str(tmp_path / "train.csv"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: --label-names names 中性") and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.glob("out*"))  # nothing left behind
