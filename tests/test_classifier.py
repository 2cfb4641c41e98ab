"""SentimentClassifier and explanations on tiny local models (plumbing, not accuracy)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sentiment_app.config import AppConfig
from sentiment_app.explain import explain
from sentiment_app.model.loading import load_classifier
from tests import tiny


class CountingModel(torch.nn.Module):
    """Wraps a model and records the batch shapes it was called with."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.inner = model
        self.config = model.config
        self.calls: list[tuple[int, int]] = []

    def forward(self, input_ids=None, **kwargs):
        self.calls.append(tuple(input_ids.shape))
        return self.inner(input_ids=input_ids, **kwargs)

    def get_input_embeddings(self):
        return self.inner.get_input_embeddings()


@pytest.fixture()
def classifier(full_model_dir):
    return load_classifier(AppConfig(model=str(full_model_dir), max_length=64, batch_size=4))


@pytest.fixture()
def counting(classifier):
    classifier.model = CountingModel(classifier.model)
    return classifier


TEXTS = ["房间干净整洁", "服务态度恶劣，非常失望。", "好", "电脑用了三天就死机，质量太差了，再也不买这个牌子。"]


def test_single_text_and_list_agree(classifier):
    one = classifier.predict(TEXTS[1])
    many = classifier.predict(TEXTS)
    assert one == many[1]
    assert [p.label for p in many] == [classifier.predict(t).label for t in TEXTS]
    for p in many:
        assert p.label in ("负面", "正面")
        assert sum(p.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert p.score == max(p.probabilities.values())
        assert p.windows == 1 and not p.long_text


def test_order_preserved_across_batches(classifier):
    texts = [f"{'好' * (i % 7 + 1)}差{i}" for i in range(23)]
    batched = classifier.predict(texts)
    alone = [classifier.predict(t) for t in texts]
    for b, a in zip(batched, alone):
        assert b.label == a.label
        assert b.probabilities == pytest.approx(a.probabilities, abs=1e-5)


def test_empty_texts_skip_the_model(counting):
    results = counting.predict(["", "   ", "\n\t", None])  # type: ignore[list-item]
    assert counting.model.calls == []
    assert all(r.empty and r.label is None and r.probabilities == {} and r.windows == 0 for r in results)
    mixed = counting.predict(["", "房间干净", " "])
    assert [r.empty for r in mixed] == [True, False, True]
    assert sum(shape[0] for shape in counting.model.calls) == 1


def test_identical_texts_are_scored_once(counting):
    results = counting.predict(["房间干净"] * 10 + ["服务差"] * 5)
    assert sum(shape[0] for shape in counting.model.calls) == 2
    assert len(results) == 15 and len({r.probabilities["正面"] for r in results[:10]}) == 1


def test_batches_are_sorted_and_padded_to_their_longest(counting):
    texts = ["好" * n for n in (30, 2, 15, 3, 29, 1, 16, 4)]
    counting.predict(texts)
    widths = [shape[1] for shape in counting.model.calls]
    assert widths == sorted(widths)
    assert counting.model.calls[0] == (4, 4 + 2)  # the four shortest, padded to 4 chars + [CLS] [SEP]


def test_long_text_uses_overlapping_windows_not_truncation(classifier):
    assert classifier.max_length == 64
    body = "房间干净整洁服务态度非常好" * 30  # 390 characters, about 7 windows of 62
    result = classifier.predict(body)
    assert result.long_text and result.windows >= 7
    assert result.tokens == len(body)
    # Changing only the last characters changes the answer: the tail is read, not cut off.
    tail_changed = classifier.predict(body[:-12] + "恶劣失望差劲再也不来了！")
    assert tail_changed.probabilities != pytest.approx(result.probabilities, abs=1e-7)


def test_max_length_is_capped_by_the_model(tmp_path):
    folder = tiny.save_full_model(tmp_path / "short", max_positions=40)
    clf = load_classifier(AppConfig(model=str(folder), max_length=512))
    assert clf.max_length == 40
    result = clf.predict("好" * 200)
    assert result.windows > 1 and result.tokens == 200


def test_logits_match_one_text_at_a_time_through_the_model(classifier):
    logits = classifier.logits(TEXTS)
    reference = tiny.one_by_one_logits(classifier.model, classifier.tokenizer, TEXTS)
    for row, ref in zip(logits, reference):
        np.testing.assert_allclose(row, ref, atol=1e-5)


def test_explanation_covers_every_character(classifier):
    text = "服务态度恶劣，ok 非常失望!"
    result = explain(classifier, text)
    assert len(result.weights) == len(text)
    assert max(abs(w) for w in result.weights) == pytest.approx(1.0)
    assert all(-1.0 <= w <= 1.0 for w in result.weights)
    assert result.prediction.label == classifier.predict(text).label
    assert result.prediction.probabilities == pytest.approx(classifier.predict(text).probabilities, abs=1e-5)
    spans = result.spans()
    assert "".join(ch for ch, _ in spans) == text
    assert result.weights[text.index(" ")] == 0.0  # whitespace belongs to no token


def test_explanation_is_gradient_times_input(classifier):
    """A character whose embedding is all zeros contributes nothing, whatever the gradient."""
    tok_id = classifier.tokenizer.convert_tokens_to_ids("好")
    embeddings = classifier.model.get_input_embeddings()
    saved = embeddings.weight[tok_id].clone()
    try:
        with torch.no_grad():
            embeddings.weight[tok_id].zero_()
        result = explain(classifier, "好服务好态度")
    finally:
        with torch.no_grad():
            embeddings.weight[tok_id] = saved
    assert result.weights[0] == 0.0 and result.weights[3] == 0.0
    assert any(w != 0.0 for w in result.weights)


def test_explanation_of_long_text_and_empty_text(classifier):
    body = "房间干净整洁服务态度非常好" * 20
    result = explain(classifier, body)
    assert result.prediction.windows > 1 and len(result.weights) == len(body)
    assert all(w != 0.0 for w in result.weights[:50])
    assert explain(classifier, "  ").prediction.empty


def test_quantized_classifier_explains_with_its_fp32_twin(full_model_dir):
    clf = load_classifier(AppConfig(model=str(full_model_dir), quantize="int8"))
    assert clf.explain_model is not clf.model
    assert any("quantized" in type(m).__module__ for m in clf.model.modules())
    text = "客服推来推去，问题一直没解决"
    result = explain(clf, text)
    assert result.prediction == clf.predict(text)  # the label shown is the served (int8) answer
    assert len(result.weights) == len(text)


def test_importing_the_package_caps_the_onednn_kernel_cache():
    """Without the cap, packed batches (a new matrix shape per call) grow RSS by ~0.9 GB over 20,000 rows."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    def capacity(**extra: str) -> str:
        env = {k: v for k, v in os.environ.items() if k != "ONEDNN_PRIMITIVE_CACHE_CAPACITY"} | extra
        code = "import sentiment_app, os; print(os.environ['ONEDNN_PRIMITIVE_CACHE_CAPACITY'])"
        return subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            cwd=Path(__file__).resolve().parents[1],
        ).stdout.strip()

    assert capacity() == "16"
    assert capacity(ONEDNN_PRIMITIVE_CACHE_CAPACITY="256") == "256"  # an operator's own setting wins


def test_explanation_models_can_be_built_in_the_background_once_ready(adapter_dir):
    from sentiment_app.model.warmup import build_explain_models_later

    fp32 = load_classifier(AppConfig(model=str(adapter_dir)))
    int8 = load_classifier(AppConfig(model=str(adapter_dir), quantize="int8"))
    assert fp32._explain_model is None and int8._explain_model is None
    answers = iter([False, False, True])
    thread = build_explain_models_later([fp32, int8], 0.0, ready=lambda: next(answers))
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert next(answers, "used up") == "used up"  # it waited for ready() to say True
    assert int8._explain_model is not None  # int8 explains through the fp32 transformers model
    assert fp32._explain_model is None  # the fp32 packed model explains itself: nothing to build
    for clf in (fp32, int8):
        assert explain(clf, "房间干净").prediction == clf.predict("房间干净")
