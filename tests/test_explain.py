"""Word-level explanations and what the page shows of them (sentiment_app.explain).

These run on the tiny local model of ``tests/tiny.py`` (a 2-layer BERT with a character vocabulary and
random weights): they check the plumbing — words, which words may be reasons, the caption, repeated
sentences, long-text summaries, the value ``gr.HighlightedText`` gets — not whether the reasons are
right. Where a rule must hold whatever the model says, the token scores are replaced by adversarial
ones (punctuation and stop words scored highest). Faithfulness on the real model is measured by
``benchmarks/bench_explain.py``; the embedded model's signs are checked in ``test_embedded_model.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sentiment_app import explain as ex
from sentiment_app.config import AppConfig
from sentiment_app.model.loading import load_classifier

ROOT = Path(__file__).resolve().parents[1]
LONG_PRAISE = "房间干净整洁，服务态度非常好。"
LONG_COMPLAINT = "早餐种类太少，而且味道一般。"


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    from tests import tiny

    folder = tiny.save_full_model(tmp_path_factory.mktemp("explain") / "model")
    return load_classifier(AppConfig(model=str(folder), max_length=64, batch_size=4))


def caption_words(caption: str) -> list[str]:
    """The words a caption names, in both of its lists."""
    words = []
    for part in caption.split("\n")[0].split("；"):
        if "：" in part:
            words.extend(part.split("：", 1)[1].split("、"))
    return words


def test_spans_are_jieba_words_that_cover_the_text(classifier):
    text = "房间干净整洁，服务态度非常好，下次还会再来。"
    result = ex.explain(classifier, text)
    assert [w.text for w in result.words] == [text[s:e] for s, e in ex.segment(text)]
    assert "".join(w.text for w in result.words) == text
    assert "干净" in [w.text for w in result.words] and "整洁" in [w.text for w in result.words]
    assert len(result.weights) == len(text)
    assert max(abs(w.weight) for w in result.words) == pytest.approx(1.0)
    spans, _ = ex.render(result)
    assert "".join(t for t, _ in spans) == text
    assert any(len(t) > 1 and w is not None for t, w in spans)  # highlighted units are words, not characters


def test_punctuation_and_stop_words_are_never_reasons(classifier, monkeypatch):
    """Even when the attribution scores them highest, they stay unhighlighted and out of the caption."""
    text = "这家的菜，太难吃了！！我们不会再来了。"
    noise = set("，！。的了我们这家")

    def adversarial(_classifier, text, _label, **_kw):
        return np.asarray([10.0 if ch in noise else 0.5 for ch in text])

    monkeypatch.setattr(ex, "token_scores", adversarial)
    result = ex.explain(classifier, text)
    spans, caption = ex.render(result)
    named = caption_words(caption)
    for word in result.words:
        if word.text in {"，", "！", "。", "的", "了", "我们", "这家"}:
            assert not word.reason and word.weight == 0.0
    highlighted = {t for t, w in spans if w is not None}
    assert highlighted and not highlighted & {"，", "！", "。", "的", "了", "我们", "这家"}
    assert named and not set(named) & {"，", "！", "。", "的", "了", "我们", "这家"}
    assert not ex.is_reason("……") and not ex.is_reason("~~") and not ex.is_reason(" ") and not ex.is_reason("123")
    assert ex.is_reason("不") and ex.is_reason("很") and ex.is_reason("great") and ex.is_reason("😀")


def test_latin_words_stay_whole(classifier):
    result = ex.explain(classifier, "great product, 很好")
    texts = [w.text for w in result.words]
    assert "great" in texts and "product" in texts
    spans, _ = ex.render(result, min_weight=0.0)
    assert not any(len(t) == 1 and t.isascii() and t.isalpha() for t, _ in spans)  # never letter by letter
    pieces = ex.token_words(classifier, "great product")
    assert [("great product")[s:e] for s, e in pieces] == ["great", " ", "product"]


def test_caption_names_only_highlighted_words(classifier):
    texts = [
        "房间干净整洁，服务态度非常好，下次还会再来。",
        "服务态度恶劣，前台爱理不理，非常失望。",
        "屏幕显示效果很好，但是电池太不耐用了。",
        (LONG_PRAISE + LONG_COMPLAINT) * 30,
    ]
    for text in texts:
        result = ex.explain(classifier, text)
        spans, caption = ex.render(result)
        highlighted = {t.strip(): w for t, w in spans if w is not None}
        named = caption_words(caption)
        assert named, caption
        toward, _, against = caption.split("\n")[0].partition("；与之相反的词：")
        for word in caption_words(toward):
            assert highlighted[word] > 0
        for word in against.split("、") if against else []:
            assert highlighted[word] < 0
        assert caption.startswith(f"推动判断为 **{result.prediction.label}** 的词") or caption.startswith("与之相反")


def test_identical_sentences_are_shaded_alike(classifier):
    text = (LONG_PRAISE + LONG_COMPLAINT) * 12 + LONG_PRAISE
    result = ex.explain(classifier, text)
    shades: dict[int, list[tuple[float, ...]]] = {}
    for start, end in ex.sentences(text):
        inside = tuple(w.weight for w in result.words if start <= w.start < end)
        shades.setdefault(hash(text[start:end]), []).append(inside)
    assert len(shades) == 2
    for copies in shades.values():
        assert len(copies) >= 12 and len(set(copies)) == 1
    assert any(w != 0.0 for w in result.weights)


def test_long_text_is_summarised_within_a_bound(classifier):
    text = (LONG_PRAISE + LONG_COMPLAINT) * 110  # about 3,000 characters
    assert len(text) > 3000
    result = ex.explain(classifier, text)
    spans, caption = ex.render(result)
    shown = "".join(t for t, _ in spans)
    longest_word = max(len(w.text) for w in result.words)
    bound = ex.SUMMARY_PASSAGES * (2 * ex.CONTEXT_CHARS + longest_word + 1)
    assert len(shown) <= bound < len(text) // 5
    assert ex.ELLIPSIS in shown and "长文本" in caption
    assert any(w is not None for _, w in spans)
    # Every kept passage is a stretch of the text, in order.
    pos = 0
    for passage in shown.split(ex.ELLIPSIS):
        if passage:
            pos = text.index(passage, pos) + len(passage)
    short_spans, short_caption = ex.render(ex.explain(classifier, LONG_PRAISE))
    assert "".join(t for t, _ in short_spans) == LONG_PRAISE and "长文本" not in short_caption


def test_render_gives_what_highlighted_text_takes(classifier):
    import gradio as gr

    spans, caption = ex.render(ex.explain(classifier, "物流很快，包装完好，质量不错，满意。"))
    assert isinstance(spans, list) and all(isinstance(s, tuple) and len(s) == 2 for s in spans)
    assert all(isinstance(t, str) and (w is None or (isinstance(w, float) and -1.0 <= w <= 1.0)) for t, w in spans)
    assert isinstance(caption, str)
    data = gr.HighlightedText(combine_adjacent=False).postprocess(spans)
    assert [item.token for item in data.root] == [t for t, _ in spans]
    assert ex.render(ex.explain(classifier, "   ")) == ([], "")


def test_words_merged_across_tokens_and_token_pieces(classifier):
    assert ex._merge_across([(0, 1), (1, 3), (3, 4)], [(0, 2), (2, 3), (3, 4)]) == [(0, 3), (3, 4)]
    text = "很好ok"
    result = ex.explain(classifier, text, words="tokens")
    assert "".join(w.text for w in result.words) == text and "ok" in [w.text for w in result.words]


def test_packed_and_transformers_gradients_agree(classifier):
    """The fp32 packed serving model takes the gradient itself; it must equal the transformers model's."""
    assert ex.differentiable_packed(classifier.model)
    text = "客服推来推去，问题一直没解决。电池不耐用，发热严重。"
    packed = ex.token_scores(classifier, text, 1)

    from sentiment_app.classifier import SentimentClassifier

    plain_classifier = SentimentClassifier(
        classifier.explain_model, classifier.tokenizer, classifier.labels, max_length=64, batch_size=4
    )
    assert not ex.differentiable_packed(plain_classifier.model)
    plain = ex.token_scores(plain_classifier, text, 1)
    np.testing.assert_allclose(packed, plain, atol=1e-6)


def test_jieba_loads_on_the_first_explanation_and_caches_where_it_can_write(tmp_path):
    """Importing the module costs nothing; the dictionary cache goes to a writable folder."""
    script = (
        "import sys, json\n"
        "import sentiment_app.explain as ex\n"
        "before = 'jieba' in sys.modules\n"
        "words = ex.segment('这家餐厅的菜太难吃了')\n"
        "print(json.dumps([before, 'jieba' in sys.modules, words]))\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    before, after, words = json.loads(out.stdout.strip().splitlines()[-1])
    assert before is False and after is True and len(words) < len("这家餐厅的菜太难吃了")
    assert (tmp_path / "cache" / "sentiment_app" / ex.JIEBA_CACHE_NAME).is_file()
    assert "Traceback" not in out.stderr and "Building prefix dict" not in out.stderr


def test_cache_folder_skips_unwritable_places(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("x")
    assert ex.cache_folder([blocked / "sub", tmp_path / "ok"]) == tmp_path / "ok"
    assert ex.cache_folder([blocked / "sub"]) is None


def test_sentences_split_after_runs_of_sentence_ends():
    text = "很好！！还会再来。一般般"
    assert [text[s:e] for s, e in ex.sentences(text)] == ["很好！！", "还会再来。", "一般般"]


def test_jieba_works_without_a_writable_cache_folder(monkeypatch, capfd):
    """No writable folder (a read-only image): the dictionary is built in memory, with no traceback."""
    monkeypatch.setattr(ex, "cache_folder", lambda: None)
    monkeypatch.setattr(ex, "_segmenter", None)
    text = "服务热情，房间干净"
    assert [text[s:e] for s, e in ex.segment(text)] == ["服务", "热情", "，", "房间", "干净"]
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Dump cache file failed" not in err
