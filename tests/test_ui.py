"""The app's callbacks with tiny models, no browser: each tab's happy path and its error paths."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import gradio as gr
import pandas as pd
import pytest

from sentiment_app.batch import UPLOAD_REFUSED, ResultFiles
from sentiment_app.config import AppConfig
from sentiment_app.model.loading import load_classifier
from sentiment_app.ui import (
    EMPTY_MESSAGE,
    MAX_TEXT_CHARS,
    NO_LABEL,
    RUN_OUTPUTS,
    Callbacks,
    about_markdown,
    build_demo,
    header_markdown,
    positive_label,
)
from tests import tiny


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    folder = tiny.save_full_model(tmp_path_factory.mktemp("m") / "full")
    return load_classifier(AppConfig(model=str(folder), max_length=64))


@pytest.fixture(scope="module")
def second(tmp_path_factory):
    folder = tiny.save_full_model(tmp_path_factory.mktemp("m2") / "other", seed=7)
    return load_classifier(AppConfig(model=str(folder), max_length=64))


@pytest.fixture()
def cb(classifier, tmp_path):
    # tmp_path stands for Gradio's upload folder: the files the tests write there count as uploads
    return Callbacks(
        [classifier], AppConfig(), results=ResultFiles(tmp_path / "results"), chunk_size=8, upload_root=tmp_path
    )


def file_data(path: Path) -> dict:
    """What gradio_client's handle_file(path) becomes once Gradio has the upload: a tagged FileData."""
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}}


class CountingClassifier:
    """Delegates to a real classifier and counts model calls."""

    def __init__(self, inner):
        self.inner = inner
        self.calls = 0
        self.labels = inner.labels
        self.info = inner.info
        self.max_length = inner.max_length

    def predict(self, texts):
        self.calls += 1
        return self.inner.predict(texts)


def gbk_csv(path: Path, rows: list[tuple[str, ...]]) -> Path:
    with open(path, "w", encoding="gbk", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def drain(generator):
    """Run a Gradio generator callback to the end; return its last yield and how many yields it made."""
    last, count = None, 0
    for last in generator:  # noqa: B007 - the loop variable is the result
        count += 1
    return last, count


# ---- page ------------------------------------------------------------------------------------


def test_build_demo_registers_the_named_api(classifier):
    demo = build_demo([classifier], AppConfig())
    names = {dep.api_name for dep in demo.fns.values() if dep.api_visibility == "public"}
    assert {"classify", "classify_file", "compare"} <= names
    classify = next(dep for dep in demo.fns.values() if dep.api_name == "classify")
    assert classify.batch and classify.max_batch_size == 16
    assert all(dep.concurrency_limit == 1 for dep in demo.fns.values() if dep.concurrency_id in ("single", "batch"))


def test_charts_start_their_count_and_probability_axes_at_zero(classifier):
    """A bar chart whose axis starts at the smallest bar turns 268 against 332 into a landslide."""
    import gradio as gr

    demo = build_demo([classifier], AppConfig())
    plots = [block for block in demo.blocks.values() if isinstance(block, gr.BarPlot)]
    assert len(plots) == 4 and all(plot.y_lim and plot.y_lim[0] == 0 for plot in plots)


def test_header_names_the_model_and_how_to_change_it(classifier, monkeypatch):
    text = header_markdown([classifier], AppConfig())
    # a local folder is named by its last part: the page is public, the server's paths are not
    folder = Path(classifier.info.name)
    assert f"…/{folder.name}" in text and str(folder.parent) not in text
    assert len([line for line in text.split("\n\n") if line.strip()]) == 2  # title and model: two lines
    about = about_markdown([classifier], AppConfig())
    assert f"…/{folder.name}" in about and str(folder.parent) not in about
    assert "int8 量化：关" in about and "负面 / 正面" in about
    from dataclasses import replace

    embedded = replace(
        classifier.info, source="embedded", name="embedded compact model", metrics={"validation": {"accuracy": 0.935}}
    )
    monkeypatch.setattr(classifier, "info", embedded)
    text = header_markdown([classifier], AppConfig())
    about = about_markdown([classifier], AppConfig())
    assert "内置轻量模型" in text and "SENTIMENT_MODEL" in about and "SENTIMENT_MODEL" not in text
    assert "准确率" not in text and "less reliable elsewhere" in text  # no dev accuracy sold as a promise
    monkeypatch.setattr(
        classifier, "info", replace(embedded, warning="team/x could not be loaded: cannot reach the Hub")
    )
    text = header_markdown([classifier], AppConfig())
    assert "⚠️" in text and "cannot reach the Hub" in text


def test_positive_label():
    assert positive_label(["负面", "正面"]) == "正面"
    assert positive_label(["positive", "negative"]) == "positive"
    assert positive_label(["a", "b"]) == "b"
    assert positive_label(["差评", "中评", "好评"]) == "好评"
    assert positive_label(["x", "y", "z"]) is None


# ---- tab 1 -------------------------------------------------------------------------------------


def test_single_text_gives_probabilities_and_timing(cb):
    labels, notes = cb.classify_batch(["房间干净整洁，服务很好"], [cb.names[0]])
    assert set(labels[0]) == {"负面", "正面"} and sum(labels[0].values()) == pytest.approx(1.0, abs=1e-5)
    assert "置信度" in notes[0] and " ms" in notes[0]
    highlight, caption = cb.explain_text("房间干净整洁，服务很好", cb.names[0])
    spans = [(span["token"], span["class_or_confidence"]) for span in highlight.value]
    assert "".join(ch for ch, _ in spans) == "房间干净整洁，服务很好"
    # Each highlighted word is a category of highlight.color_map (the sentiment it pushes toward).
    assert all(c is None or c in highlight.color_map for _, c in spans)
    assert any(c is not None for _, c in spans)
    assert caption.startswith("推动判断为")


def test_empty_and_huge_text_never_reach_the_model(classifier, tmp_path):
    counting = CountingClassifier(classifier)
    cb = Callbacks([counting], AppConfig(), results=ResultFiles(tmp_path))
    labels, notes = cb.classify_batch(["", "   ", "好" * (MAX_TEXT_CHARS + 1)], [cb.names[0]] * 3)
    assert counting.calls == 0
    assert labels == [None, None, None]
    assert notes[0] == EMPTY_MESSAGE and notes[1] == EMPTY_MESSAGE
    assert "文本过长" in notes[2] and f"{MAX_TEXT_CHARS:,}" in notes[2]
    assert cb.explain_text("  ", cb.names[0]) == ([], "")


def test_batched_requests_keep_their_own_answers(cb, classifier):
    texts = ["服务态度恶劣", "", "房间干净整洁，服务很好", "服务态度恶劣"]
    labels, notes = cb.classify_batch(texts, [cb.names[0]] * 4)
    assert labels[1] is None and notes[1] == EMPTY_MESSAGE
    for text, value in zip(texts, labels):
        if text:
            assert value == pytest.approx(classifier.predict(text).probabilities)
    assert "与其他 3 个请求合批" in notes[0]


def test_long_text_says_it_was_read_in_windows(cb):
    labels, notes = cb.classify_batch(["房间干净整洁服务态度非常好" * 20], [cb.names[0]])
    assert labels[0] is not None and "重叠窗口" in notes[0] and "长文本" in notes[0]


def test_classify_api_returns_plain_json(cb):
    (out,) = cb.classify_api(["房间干净", ""])
    assert out[0]["label"] in ("负面", "正面") and set(out[0]["probabilities"]) == {"负面", "正面"}
    assert out[1]["label"] is None and out[1]["error"] == EMPTY_MESSAGE
    assert out[0]["uncertain"] is cb.primary.predict("房间干净").uncertain and out[1]["uncertain"] is False


def test_each_merged_ui_request_is_checked_on_its_own(classifier, tmp_path):
    """The batched UI callback gets raw payloads (preprocess=False): bad ones get their own note."""
    counting = CountingClassifier(classifier)
    cb = Callbacks([counting], AppConfig(), results=ResultFiles(tmp_path))
    good = "房间干净整洁，服务很好"
    texts = [good, 123, "好\ud800", {"a": 1}, good, good]
    models = [cb.names[0]] * 5 + ["no-such-model"]
    labels, notes = cb.classify_batch(texts, models)
    assert counting.calls == 1  # the two good requests share one model call
    assert labels[0] == pytest.approx(classifier.predict(good).probabilities) and labels[4] == labels[0]
    assert labels[1:4] == [None] * 3 and labels[5] is None
    assert "got a number" in notes[1] and "lone surrogate" in notes[2] and "got an object" in notes[3]
    assert "No such model" in notes[5]


def test_a_text_that_breaks_the_model_fails_only_its_own_request(classifier, tmp_path, caplog):
    class Fragile(CountingClassifier):
        def predict(self, texts):
            if "炸" in "".join([texts] if isinstance(texts, str) else texts):
                raise RuntimeError("tokenizer exploded at /srv/app/x.py")
            return super().predict(texts)

    cb = Callbacks([Fragile(classifier)], AppConfig(), results=ResultFiles(tmp_path))
    (out,) = cb.classify_api(["好", "炸", ["差", "还行"]])
    assert out[0]["label"] == classifier.predict("好").label
    assert out[1]["label"] is None and "reference" in out[1]["error"] and "/srv" not in out[1]["error"]
    assert [a["label"] for a in out[2]] == [p.label for p in classifier.predict(["差", "还行"])]
    assert any(r.exc_info for r in caplog.records)  # the bug is logged with its traceback


def test_model_choice_routes_to_that_model(classifier, second, tmp_path):
    cb = Callbacks([classifier, second], AppConfig(), results=ResultFiles(tmp_path))
    assert len(set(cb.names)) == 2
    text = "服务态度恶劣，非常失望。"
    labels, _ = cb.classify_batch([text, text], cb.names)
    assert labels[0] == pytest.approx(classifier.predict(text).probabilities)
    assert labels[1] == pytest.approx(second.predict(text).probabilities)
    assert labels[0] != pytest.approx(labels[1])


# ---- tab 2 -------------------------------------------------------------------------------------

ROWS = [("评论", "标签", "订单号")] + [
    ("房间干净整洁，服务态度非常好", "正面", "=1+1"),
    ("服务态度恶劣，非常失望", "负面", "A001"),
    ("", "正面", "A002"),
    ("电脑用了三天就死机，质量太差了", "负面", "-5"),
    ("物流很快，包装完好，满意", "1", "@SUM(A1)"),
] * 5


def test_upload_preview_detects_encoding_and_columns(cb, tmp_path):
    path = gbk_csv(tmp_path / "评论导出.csv", ROWS)
    preview, info, text_dd, label_dd, run, results_box = cb.preview(str(path))[:6]
    assert preview.visible is True
    assert list(preview.value["headers"]) == ["评论", "标签", "订单号"] and len(preview.value["data"]) == 10
    assert "GB18030" in info and "25 行" in info
    assert text_dd.value == "评论" and label_dd.value == "标签" and (NO_LABEL, NO_LABEL) in label_dd.choices
    assert run.interactive is True and results_box.visible is False


def test_broken_upload_is_a_clear_error(cb, tmp_path):
    path = tmp_path / "photo.csv"
    path.write_bytes(bytes(range(256)) * 40)
    preview, info, text_dd, label_dd, run, results_box = cb.preview(str(path))[:6]
    assert "文件无法使用" in info and "photo.csv" in info and "请换一个文件再试" in info
    assert preview.visible is False and run.interactive is False and text_dd.choices == []
    with pytest.raises(gr.Error) as exc:
        drain(cb.run_table(str(path), "评论", NO_LABEL))
    assert "\n" not in exc.value.message and "photo.csv" in exc.value.message
    with pytest.raises(gr.Error) as exc:
        drain(cb.run_table(None, None, None))
    assert "上传" in exc.value.message


def test_limits_refuse_before_the_model(classifier, tmp_path):
    counting = CountingClassifier(classifier)
    cb = Callbacks([counting], AppConfig(max_rows=10), results=ResultFiles(tmp_path / "r"), upload_root=tmp_path)
    path = gbk_csv(tmp_path / "big.csv", ROWS)
    _, info, _, _, run, _ = cb.preview(str(path))[:6]
    assert "10" in info and "文件无法使用" in info and run.interactive is False
    with pytest.raises(gr.Error):
        drain(cb.run_table(str(path), "评论", NO_LABEL))
    assert counting.calls == 0


def test_unknown_column_lists_the_available_ones(cb, tmp_path):
    path = gbk_csv(tmp_path / "t.csv", ROWS)
    with pytest.raises(gr.Error) as exc:
        drain(cb.run_table(str(path), "review", NO_LABEL))
    assert "评论" in exc.value.message and "订单号" in exc.value.message


def test_run_writes_both_downloads_and_a_summary(cb, tmp_path, classifier):
    path = gbk_csv(tmp_path / "reviews.csv", ROWS)
    last, yields = drain(cb.run_table(str(path), "评论", "标签", cb.names[0]))
    assert yields >= 1 + 25 // 8  # a progress yield per chunk, then the results
    assert len(last) == RUN_OUTPUTS
    box, status, table, chart, summary, confusion, least, csv_button, xlsx_button = last[:9]
    assert box.visible is True and "25 行" in status and "完成" in status
    # the verdict first, then the input's columns, then the probabilities
    assert len(table) == 25
    assert list(table.columns) == ["情感", "置信度", "评论", "标签", "订单号", "P(负面)", "P(正面)"]
    bars = pd.DataFrame(chart.value["data"], columns=chart.value["columns"])
    assert list(bars["情感"]) == ["负面", "正面"] and bars["条数"].sum() == 20  # the table's order
    assert chart.y_lim == [0, 25]  # whole-number ticks: the axis tops at a round number above the biggest count
    assert "准确率" in summary and "macro F1" in summary
    assert list(least.columns[:4]) == ["情感", "置信度", "行", "评论"]
    assert list(least["置信度"]) == sorted(least["置信度"])
    assert confusion.visible is True
    csv_path, xlsx_path = (
        Path(b.value["path"] if isinstance(b.value, dict) else b.value) for b in (csv_button, xlsx_button)
    )
    assert csv_button.visible and xlsx_button.visible
    assert csv_path.name == "reviews_sentiment.csv" and xlsx_path.suffix == ".xlsx"
    raw = csv_path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["评论", "标签", "订单号", "sentiment", "confidence", "prob_负面", "prob_正面", "标记"]
    assert len(rows) == 26
    assert rows[1][2] == "'=1+1" and rows[5][2] == "'@SUM(A1)" and rows[4][2] == "-5"
    assert rows[3][3] == "" and rows[1][3] == classifier.predict("房间干净整洁，服务态度非常好").label
    assert pd.read_excel(xlsx_path).shape == (25, 8)


def test_stopping_a_run_stops_the_worker(classifier, tmp_path):
    """Closing the generator (what Gradio does on Stop or a closed tab) ends the classification."""
    counting = CountingClassifier(classifier)
    cb = Callbacks([counting], AppConfig(), results=ResultFiles(tmp_path / "r"), chunk_size=2, upload_root=tmp_path)
    path = gbk_csv(tmp_path / "many.csv", [("评论",)] + [(f"第{i}条评论，服务很好",) for i in range(400)])
    generator = cb.run_table(str(path), "评论", NO_LABEL)
    next(generator)
    generator.close()
    calls_at_close = counting.calls
    time.sleep(0.5)
    assert counting.calls <= calls_at_close + 1  # at most the chunk in flight finishes
    assert counting.calls < 200
    assert not any((tmp_path / "r").glob("*/*"))  # nothing written for a cancelled job


def test_classify_file_api(cb, tmp_path):
    path = gbk_csv(tmp_path / "api.csv", ROWS)
    (result, summary), yields = drain(cb.classify_file_api(file_data(path), "", ""))
    out = Path(result.path)
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    assert summary["rows"] == 25 and summary["empty"] == 5 and summary["label_column"] == "标签"
    assert summary["accuracy"] is not None and summary["text_column"] == "评论"
    assert yields > 1  # progress yields before the answer: each one is a point where a cancel lands
    with pytest.raises(gr.Error):
        drain(cb.classify_file_api(file_data(path), "nope", ""))


@pytest.mark.parametrize(
    "make",
    [
        lambda upload, tmp: str(upload),  # a plain string path, even of a real upload
        lambda upload, tmp: {"path": str(upload)},  # a dict without the FileData tag
        lambda upload, tmp: {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}},
        lambda upload, tmp: {"path": str(tmp / ".." / "outside.csv"), "meta": {"_type": "gradio.FileData"}},
        lambda upload, tmp: {"path": "/no/such/file.csv", "meta": {"_type": "gradio.FileData"}},
        lambda upload, tmp: {"path": str(upload), "meta": {"_type": "something.else"}},
        lambda upload, tmp: 42,
    ],
)
def test_classify_file_api_reads_only_uploads(classifier, tmp_path, make):
    uploads = tmp_path / "uploads"
    upload = gbk_csv(uploads.mkdir() or uploads / "mine.csv", ROWS)
    gbk_csv(tmp_path / "outside.csv", ROWS)
    counting = CountingClassifier(classifier)
    cb = Callbacks([counting], AppConfig(), results=ResultFiles(tmp_path / "r"), upload_root=uploads)
    with pytest.raises(gr.Error) as exc:
        drain(cb.classify_file_api(make(upload, uploads), "", ""))
    assert exc.value.message == UPLOAD_REFUSED and "\n" not in exc.value.message
    assert counting.calls == 0


def test_ui_callbacks_read_only_uploads(cb, tmp_path):
    outside = gbk_csv(tmp_path.parent / f"{tmp_path.name}-outside.csv", ROWS)
    _, info, _, _, run, _ = cb.preview(str(outside))[:6]
    assert UPLOAD_REFUSED in info and outside.name not in info and run.interactive is False
    with pytest.raises(gr.Error) as exc:
        drain(cb.run_table(str(outside), "评论", NO_LABEL))
    assert exc.value.message == UPLOAD_REFUSED


def test_result_files_are_purged(tmp_path):
    results = ResultFiles(tmp_path / "r", max_age=0.0)
    first = results.new_job()
    (first / "a.csv").write_text("x")
    time.sleep(0.01)
    results.new_job()
    assert not first.exists()
    assert len(list((tmp_path / "r").iterdir())) == 1


# ---- tab 3 -------------------------------------------------------------------------------------


def test_compare_one_model(cb):
    frame = pd.DataFrame([("否定", "不是不好吃"), ("", "服务很好"), ("空", "  ")], columns=["类型", "评论"])
    table, chart = cb.compare(frame)
    assert list(table["评论"]) == ["不是不好吃", "服务很好"]
    assert list(table.columns) == ["判断", "P(正面)", "评论", "类型"]  # the verdict first: on screen on a phone
    assert "分歧" not in table.columns
    assert list(chart["评论"]) == ["01. 不是不好吃", "02. 服务很好"]


def test_compare_several_models_shows_disagreements(classifier, second, tmp_path):
    cb = Callbacks([classifier, second], AppConfig(), results=ResultFiles(tmp_path))
    texts = [t for t, _ in tiny.REVIEWS]
    table, chart = cb.compare(pd.DataFrame({"评论": texts}))
    first, other = cb.names
    assert f"{first} · 判断" in table.columns and f"{other} · P(正面)" in table.columns
    expected = [classifier.predict(t).label != second.predict(t).label for t in texts]
    assert [mark == "⚠️" for mark in table["分歧"]] == expected
    assert len(chart) == 2 * len(texts) and set(chart["模型"]) == {first, other}
    rows = cb.compare_api(texts[:2])
    assert set(rows[0]["models"]) == {first, other} and isinstance(rows[0]["disagree"], bool)


def test_compare_errors(cb):
    with pytest.raises(gr.Error):
        cb.compare(pd.DataFrame({"评论": ["", " "]}))
    with pytest.raises(gr.Error):
        cb.compare(pd.DataFrame({"评论": ["好"] * 51}))


def test_comparison_tab_meets_the_same_limits(classifier, tmp_path):
    counting = CountingClassifier(classifier)
    cb = Callbacks([counting], AppConfig(), results=ResultFiles(tmp_path))
    frame = lambda texts: pd.DataFrame({"类型": ["k"] * len(texts), "评论": texts})  # noqa: E731
    raw = lambda texts: {"headers": ["类型", "评论"], "data": [["k", t] for t in texts]}  # noqa: E731
    cases = [
        (frame(["好", "好" * 2_200_000]), "row 2: .*Text too long \\(2,200,000 characters"),
        (raw(["好", "好" * 2_200_000]), "row 2: .*Text too long"),  # the tab's payload (preprocess=False)
        (raw(["好\ud800"]), "lone surrogate"),  # pandas could not even hold this one
        (raw([{"a": 1}]), "row 1: .*got an object"),
        ({"data": "x"}, "Expected a table"),
        (frame([""] * 1000), "1,000 rows"),  # blank rows are not read one by one without bound
        (frame(["好" * 19_000] * 6), "114,000 characters, limit 100,000"),
    ]
    for table, message in cases:
        with pytest.raises(gr.Error, match=message):
            cb.compare(table)
    assert counting.calls == 0
    table, _ = cb.compare(frame([123, "好"]))  # a number typed in a cell is that text
    assert list(table["评论"]) == ["123", "好"]
    table, _ = cb.compare(raw(["好", None, "差"]))
    assert list(table["评论"]) == ["好", "差"]


def test_guarded_callbacks_log_one_line_for_users_and_a_traceback_for_bugs(caplog):
    import logging

    from sentiment_app.ui import guarded

    caplog.set_level(logging.INFO, logger="sentiment_app.ui")

    @guarded("thing")
    def mistaken():
        raise gr.Error("bad column\nsecond line")

    @guarded("stream")
    def streaming():
        yield 1
        raise RuntimeError("open /srv/app/secret failed")

    with pytest.raises(gr.Error) as info:
        mistaken()
    assert info.value.print_exception is False  # Gradio prints no traceback for it
    assert [r.getMessage() for r in caplog.records] == ["refused thing request: bad column second line"]
    caplog.clear()
    gen = streaming()
    assert next(gen) == 1
    with pytest.raises(gr.Error) as info:
        next(gen)
    assert "/srv" not in info.value.message and "reference" in info.value.message
    assert len(caplog.records) == 1 and caplog.records[0].exc_info  # the bug, with its traceback


def test_uncertain_predictions_are_marked_in_the_single_text_note_and_the_comparison(tmp_path):
    from sentiment_app.model.artifact import write_calibration
    from sentiment_app.ui import UNCERTAIN_NOTE

    folder = tiny.save_full_model(tmp_path / "calibrated")
    write_calibration(folder, 1.0, 0.99)  # a random tiny model is never 99 % sure: everything is uncertain
    unsure = load_classifier(AppConfig(model=str(folder), max_length=64))
    callbacks = Callbacks([unsure], AppConfig(), results=ResultFiles(tmp_path / "results"))
    _, notes = callbacks.classify_batch(["房间干净"], [callbacks.names[0]])
    assert UNCERTAIN_NOTE in notes[0]
    table, _ = callbacks.compare(pd.DataFrame({"类型": ["a"], "评论": ["房间干净"]}))
    assert table["判断"][0].endswith("（把握不大）")
    write_calibration(folder, 1.0, None)  # no threshold: never uncertain
    sure = load_classifier(AppConfig(model=str(folder), max_length=64))
    callbacks = Callbacks([sure], AppConfig(), results=ResultFiles(tmp_path / "results2"))
    _, notes = callbacks.classify_batch(["房间干净"], [callbacks.names[0]])
    assert UNCERTAIN_NOTE not in notes[0]


# ---- wording, progress, API page -----------------------------------------------------------------


def test_progress_bar_says_rows_rate_and_time_left():
    from sentiment_app.ui.formatting import finished_html, progress_html

    bar = progress_html(2_304, 7_766, 8.0)
    assert "已分析 2,304 / 7,766 行 · 29.7% · 每秒 288 行 · 预计还需 19 秒" in bar
    assert 'role="progressbar"' in bar and 'aria-valuenow="2304"' in bar and "width: 29.7%" in bar
    assert "开始分析 7,766 行" in progress_html(0, 7_766, 0.0)
    assert "预计还需 1 分 30 秒" in progress_html(100, 1_000, 10.0)
    assert "正在写出结果文件" in progress_html(7_766, 7_766, 20.0, stage="writing")
    done = finished_html(7_766, 19.4, "embedded", "GB18030")
    assert "完成：7,766 行 · 用时 19 秒" in done and "width: 100.0%" in done


def test_batch_errors_read_chinese_first_with_the_english_detail(cb, tmp_path):
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n" + bytes(range(256)) * 8)
    with pytest.raises(gr.Error) as exc:
        drain(cb.run_table(str(path), "评论", NO_LABEL))
    assert exc.value.message.startswith("这不是表格文件") and "photo.csv is a PNG image" in exc.value.message
    assert "(不支持的文件格式)" not in exc.value.message and exc.value.title == "文件无法使用"


def test_a_failed_job_leaves_its_reason_in_the_progress_bar(cb, tmp_path):
    path = gbk_csv(tmp_path / "t.csv", ROWS)
    updates = []
    with pytest.raises(gr.Error):
        for update in cb.run_table(str(path), "review", NO_LABEL):
            updates.append(update)
    assert "❌" in updates[-1].status and "列名不存在" not in updates[-1].status and "评论" in updates[-1].status


def test_chart_colours_mean_the_same_everywhere():
    from sentiment_app.ui import label_colors
    from sentiment_app.ui.formatting import NEGATIVE_COLOR, POSITIVE_COLOR, marked

    assert label_colors(["负面", "正面"]) == {"负面": NEGATIVE_COLOR, "正面": POSITIVE_COLOR}
    assert label_colors(["positive", "negative"]) == {"positive": POSITIVE_COLOR, "negative": NEGATIVE_COLOR}
    three = label_colors(["差评", "中评", "好评"])
    assert three["差评"] == NEGATIVE_COLOR and three["好评"] == POSITIVE_COLOR
    assert three["中评"] not in (NEGATIVE_COLOR, POSITIVE_COLOR)
    assert marked("负面", ["负面", "正面"]) == "🔴 负面" and marked("正面", ["负面", "正面"]) == "🟢 正面"


def test_explanation_colours_are_the_labels_colours():
    """Highlights use the charts' colours for the sentiment a word pushes toward, darker when strong; the
    legend runs from strong 负面 to strong 正面 whatever the verdict."""
    from sentiment_app.ui.formatting import NEGATIVE_COLOR, POSITIVE_COLOR, sentiment_spans

    spans = [("干净", 0.9), ("，", None), ("有点吵", -0.3), ("还行", 0.2), ("太差", -0.8)]
    for verdict in ("正面", "负面"):
        value, colors = sentiment_spans(spans, verdict, ["负面", "正面"])
        assert list(colors) == ["强烈推向负面", "推向负面", "推向正面", "强烈推向正面"]
        assert colors["强烈推向负面"] == NEGATIVE_COLOR and colors["强烈推向正面"] == POSITIVE_COLOR
        assert colors["推向负面"] not in (NEGATIVE_COLOR, POSITIVE_COLOR)
        other = "负面" if verdict == "正面" else "正面"
        assert value == [
            ("干净", f"强烈推向{verdict}"),
            ("，", None),
            ("有点吵", f"推向{other}"),
            ("还行", f"推向{verdict}"),
            ("太差", f"强烈推向{other}"),
        ]
    value, colors = sentiment_spans([("一般", 0.7), ("差", -0.2)], "中评", ["差评", "中评", "好评"])
    assert value == [("一般", "强烈推向中评"), ("差", "与判断相反")] and set(colors) >= {"强烈推向中评", "与判断相反"}


def test_the_api_page_has_types_and_descriptions(classifier):
    for max_batch in (16, 1):
        info = build_demo([classifier], AppConfig(max_batch=max_batch)).get_api_info()["named_endpoints"]
        for name in ("/classify", "/classify_file", "/compare"):
            endpoint = info[name]
            text = str(endpoint)
            assert "`" not in text and "Any" not in text, (name, text)
            assert endpoint["description"] and all(p["python_type"]["description"] for p in endpoint["parameters"])
            assert all(r["python_type"]["description"] for r in endpoint["returns"])
        assert info["/classify"]["parameters"][0]["python_type"]["type"] == "str | list[str]"
        assert info["/classify"]["returns"][0]["python_type"]["type"].startswith("dict(label: None | str")
        assert [r["label"] for r in info["/classify_file"]["returns"]] == ["result_csv", "summary"]
        assert info["/classify_file"]["returns"][0]["python_type"]["type"] == "None | filepath"
        assert info["/compare"]["parameters"][0]["python_type"]["type"] == "list[str] | str"
