"""The running app under concurrency and faults, in-process with tiny models (no timing asserts).

Answers under concurrent load equal answers alone; a cancelled CSV job stops calling the
model; uploads and result files do not pile up; the API speaks plain JSON.
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import os
import time
from pathlib import Path

import pytest

from sentiment_app.batch import ResultFiles
from sentiment_app.config import AppConfig
from sentiment_app.model.loading import load_classifier
from sentiment_app.ui import NO_LABEL, build_demo, launch
from sentiment_app.ui.insights_view import AUTO_CHOICE
from tests import tiny
from tests.app_process import ROOT, free_port

# the batch tab's insight settings: group column, date column, count flagged rows
INSIGHT_SETTINGS = (AUTO_CHOICE, AUTO_CHOICE, False)


class CountingClassifier:
    """A real classifier that counts model calls and can be slowed down to make a job long."""

    def __init__(self, inner, delay: float = 0.0):
        self.inner, self.delay, self.calls = inner, delay, 0
        self.labels, self.info, self.max_length = inner.labels, inner.info, inner.max_length
        self.explain_model, self.model = inner.explain_model, inner.model

    def predict(self, texts):
        self.calls += 1
        time.sleep(self.delay)
        return self.inner.predict(texts)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    folder = tiny.save_full_model(tmp_path_factory.mktemp("serve") / "model")
    return load_classifier(AppConfig(model=str(folder), max_length=64))


@pytest.fixture()
def serve(tmp_path, monkeypatch):
    """Start build_demo(...) on a free port with a private Gradio temp folder; yield (url, temp)."""
    demos = []
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))

    def start(classifiers, config):
        results = ResultFiles(tmp_path / "results", max_age=config.file_ttl)
        demo = build_demo(classifiers, config, results=results)
        launch(
            demo,
            config,
            results=results,
            server_name="127.0.0.1",
            server_port=free_port(),
            prevent_thread_lock=True,
            quiet=True,
        )
        demos.append(demo)
        return demo.local_url, tmp_path

    yield start
    for demo in demos:
        demo.close()


def client_for(url):
    from gradio_client import Client

    return Client(url, verbose=False)


def write_reviews(path: Path, rows: int) -> Path:
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["评论"])
        for i in range(rows):
            writer.writerow([tiny.REVIEWS[i % len(tiny.REVIEWS)][0]])
    return path


def test_concurrent_answers_equal_answers_alone(classifier, serve):
    url, _ = serve([classifier], AppConfig(max_batch=8))
    texts = [t for t, _ in tiny.REVIEWS] + ["", "房间干净整洁服务态度非常好" * 12]
    alone = {t: classifier.predict(t) for t in texts}
    clients = [client_for(url) for _ in range(6)]

    def call(i):
        text = texts[i % len(texts)]
        return text, clients[i % len(clients)].predict(text, api_name="/classify")

    with cf.ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(call, range(60)))
    assert len(answers) == 60
    for text, answer in answers:
        want = alone[text]
        assert answer["label"] == want.label
        if want.label is None:
            assert "error" in answer
        else:
            assert answer["probabilities"] == pytest.approx(want.probabilities, abs=1e-5)
            assert answer["windows"] == want.windows


def test_batching_off_gives_the_same_answers(classifier, serve):
    url, _ = serve([classifier], AppConfig(max_batch=1))
    client = client_for(url)
    for text, _ in tiny.REVIEWS[:4]:
        answer = client.predict(text, api_name="/classify")
        assert answer["probabilities"] == pytest.approx(classifier.predict(text).probabilities, abs=1e-5)


def test_cancelled_csv_job_stops_calling_the_model(classifier, serve, tmp_path):
    slow = CountingClassifier(classifier, delay=0.05)
    url, _ = serve([slow], AppConfig())
    client = client_for(url)
    from gradio_client import handle_file

    path = write_reviews(tmp_path / "big.csv", 5000)  # 20 chunks of 256 rows
    job = client.submit(
        handle_file(str(path)), "评论", NO_LABEL, slow.info.short_name, *INSIGHT_SETTINGS, api_name="/ui_run_table"
    )
    deadline = time.monotonic() + 60
    while slow.calls < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert slow.calls >= 2, "the job never started"
    job.cancel()
    time.sleep(1.0)
    after_cancel = slow.calls
    time.sleep(2.0)
    assert slow.calls <= after_cancel + 1  # at most the chunk in flight
    assert slow.calls < 20  # the job did not run to the end


def test_classify_file_api_round_trip(classifier, serve, tmp_path):
    url, _ = serve([classifier], AppConfig())
    from gradio_client import handle_file

    path = write_reviews(tmp_path / "reviews.csv", 30)
    out, summary = client_for(url).predict(handle_file(str(path)), "", "", api_name="/classify_file")
    with open(out, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["评论", "sentiment", "confidence", "prob_负面", "prob_正面", "标记"] and len(rows) == 31
    assert summary["rows"] == 30 and summary["classified"] == 30


@pytest.mark.parametrize("max_batch", [16, 1])
def test_gradio_client_sends_one_text_or_a_list(classifier, serve, max_batch):
    """The README's shapes: /classify takes a string (one answer) or a list (a list, in order); /compare
    takes a list, and a single string is one text (not its characters)."""
    url, _ = serve([classifier], AppConfig(max_batch=max_batch))
    client = client_for(url)
    texts = ["房间干净，服务热情。", "质量太差了，再也不买。", "还行吧"]
    one = client.predict(texts[0], api_name="/classify")
    assert one["label"] == classifier.predict(texts[0]).label
    many = client.predict(texts, api_name="/classify")
    assert [a["label"] for a in many] == [p.label for p in classifier.predict(texts)]
    assert many[0]["probabilities"] == pytest.approx(one["probabilities"], abs=1e-6)
    rows = client.predict(texts[0], api_name="/compare")
    assert [r["text"] for r in rows] == [texts[0]]
    rows = client.predict(texts, api_name="/compare")
    assert [r["text"] for r in rows] == texts


@pytest.mark.slow
@pytest.mark.timeout(900)  # 100 uploads through a running app
def test_temp_folder_does_not_grow_across_100_uploads(classifier, serve, tmp_path):
    url, temp = serve([classifier], AppConfig(file_ttl=3))
    from gradio_client import handle_file

    client = client_for(url)
    path = write_reviews(tmp_path / "small.csv", 20)

    def size() -> int:
        return sum(p.stat().st_size for p in temp.rglob("*") if p.is_file() and "small.csv" != p.name)

    for _ in range(100):
        out, _summary = client.predict(handle_file(str(path)), "", "", api_name="/classify_file")
        os.remove(out)  # the client's own download copy, not the app's
    time.sleep(8)  # past the 3 s lifetime and its cleanup tick
    client.predict(handle_file(str(path)), "", "", api_name="/classify_file")  # a new job purges old results
    time.sleep(5)
    leftover = [p for p in (temp / "gradio").rglob("*") if p.is_file()] + [
        p for p in (temp / "results").rglob("*") if p.is_file()
    ]
    assert len(leftover) <= 4, leftover  # at most the newest upload and its result, not 100 of each


# ---- hostile callers (issue 14): isolation between kinds, clients and merged requests ----------


class RecordingClassifier(CountingClassifier):
    """Also records how many texts each model call held, to see that requests were merged."""

    def __init__(self, inner, delay: float = 0.0):
        super().__init__(inner, delay)
        self.sizes: list[int] = []

    def predict(self, texts):
        self.sizes.append(1 if isinstance(texts, str) else len(texts))
        return super().predict(texts)


def refused_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "sentiment_app.ui" and "refused" in r.getMessage()]


def test_a_batch_flood_never_locks_out_single_texts(classifier, serve, tmp_path, caplog):
    """Three clients flood /classify_file past the batch bound; a fourth's single texts are all answered."""
    import logging

    from tests.app_process import call_api

    caplog.set_level(logging.INFO, logger="sentiment_app.ui")
    slow = CountingClassifier(classifier, delay=0.3)
    url, _ = serve([slow], AppConfig(batch_queue=4, max_queue=8))  # 2 batch jobs per client, 4 in all
    from gradio_client import Client, handle_file

    path = write_reviews(tmp_path / "flood.csv", 1000)  # 4 chunks of 256 rows: ~1.2 s per job
    flooders = {
        name: Client(url, verbose=False, headers={"X-Forwarded-For": f"198.51.100.{i + 1}"})
        for i, name in enumerate(("a", "b", "c"))
    }
    jobs = [
        (name, flooders[name].submit(handle_file(str(path)), "", "", api_name="/classify_file"))
        for name in ("a", "a", "a", "b", "b", "b")
    ]
    time.sleep(0.5)  # the six are in (or refused) before the seventh and the single texts
    jobs.append(("c", flooders["c"].submit(handle_file(str(path)), "", "", api_name="/classify_file")))
    singles = [
        call_api(url, "classify", [text], headers={"X-Forwarded-For": "198.51.100.9"}) for text, _ in tiny.REVIEWS[:6]
    ]
    outcomes = []
    for name, job in jobs:
        try:
            job.result(timeout=120)
            outcomes.append((name, "done"))
        except Exception as exc:  # gradio_client's QueueError for a 503 at join
            outcomes.append((name, type(exc).__name__))
    # each client's share (submits run in the client's threads, so which of the three is refused varies)
    assert sorted(o for n, o in outcomes if n == "a") == ["QueueError", "done", "done"]
    assert sorted(o for n, o in outcomes if n == "b") == ["QueueError", "done", "done"]
    assert outcomes[-1] == ("c", "QueueError")  # the kind's bound, though "c" had nothing running
    for (text, _), (event, data) in zip(tiny.REVIEWS[:6], singles):
        assert event == "complete", data
        assert data[0]["label"] == classifier.predict(text).label
    lines = refused_lines(caplog)
    assert len(lines) == 3 and all("\n" not in line for line in lines)
    assert sum("you already have 2 batch requests" in line for line in lines) == 2
    assert sum("batch queue is full (4 requests)" in line for line in lines) == 1


def test_refused_join_says_busy_in_one_line(classifier, serve):
    """A raw HTTP caller gets 503 and the reason, not a hang or a traceback."""
    import threading

    from tests.app_process import call_api

    slow = CountingClassifier(classifier, delay=1.0)
    url, _ = serve([slow], AppConfig(max_queue=2, max_batch=1))
    header = {"X-Forwarded-For": "198.51.100.20"}
    first = threading.Thread(target=call_api, args=(url, "classify", ["好"]), kwargs={"headers": header})
    first.start()
    time.sleep(0.3)
    event, (status, detail) = call_api(url, "classify", ["差"], headers=header)
    first.join(timeout=60)
    assert (event, status) == ("refused", 503)
    assert "single-text requests queued or running" in detail and "\n" not in detail


def test_one_bad_request_does_not_fail_the_requests_merged_with_it(classifier, serve):
    import threading

    from tests.app_process import call_api

    slow = RecordingClassifier(classifier, delay=0.5)
    url, _ = serve([slow], AppConfig(max_batch=16))
    good = [t for t, _ in tiny.REVIEWS[:8]]
    bad = [123, None, "好\ud800评", {"text": "好"}, "好" * 30_000, [1, "房间干净"], True, []]
    payloads = good + bad
    results: dict[int, tuple] = {}

    def call(i):
        results[i] = call_api(url, "classify", [payloads[i]])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(payloads))]
    for thread in threads:
        thread.start()
        time.sleep(0.02)
    for thread in threads:
        thread.join(timeout=120)
    assert max(slow.sizes) > 1, slow.sizes  # requests were merged into shared model calls
    for i, text in enumerate(good):
        event, data = results[i]
        assert event == "complete" and data[0]["label"] == classifier.predict(text).label
        assert data[0]["probabilities"] == pytest.approx(classifier.predict(text).probabilities, abs=1e-5)
    messages = {}
    for value, (event, data) in zip(bad, [results[len(good) + k] for k in range(len(bad))]):
        assert event == "complete", (value, data)
        messages[repr(value)[:12]] = data[0]
    assert "must be a string, got a number" in messages["123"]["error"]
    assert "请先输入" in messages["None"]["error"]
    assert "lone surrogate" in messages[repr("好\ud800评")[:12]]["error"]
    assert "got an object" in messages[repr({"text": "好"})[:12]]["error"]
    assert "Text too long (30,000 characters" in messages[repr("好" * 30_000)[:12]]["error"]
    mixed = messages[repr([1, "房间干净"])[:12]]  # a list: one answer per item, its bad item marked
    assert "got a number" in mixed[0]["error"] and mixed[1]["label"] == classifier.predict("房间干净").label
    assert "got a boolean" in messages["True"]["error"] and messages["[]"] == []


def test_huge_texts_are_refused_on_every_endpoint_before_the_model(classifier, serve):
    from tests.app_process import call_api

    counting = CountingClassifier(classifier)
    url, _ = serve([counting], AppConfig())
    huge = "好" * 2_200_000  # 6.6 MB of UTF-8
    many = ["好评"] * 51
    calls = [
        ("classify", [huge]),
        ("classify", [[huge]]),
        ("classify", [many]),
        ("classify", [["好" * 19_000] * 6]),
        ("compare", [[huge]]),
        ("compare", [many]),
        ("compare", [{"headers": ["k", "t"], "data": [["x", huge]]}]),
        ("compare", [[5]]),
    ]
    answers = [call_api(url, name, data) for name, data in calls]
    assert counting.calls == 0  # nothing reached the model
    event, data = answers[0]
    assert event == "complete" and "Text too long (2,200,000 characters, limit 20,000)" in data[0]["error"]
    assert "This call holds 2,200,000 characters, limit 100,000" in answers[1][1][0]["error"]
    assert "At most 50 texts per call, got 51" in answers[2][1][0]["error"]
    assert "114,000 characters, limit 100,000" in answers[3][1][0]["error"]
    for (event, data), want in zip(
        answers[4:], ["holds 2,200,000 characters", "At most 50", "holds 2,200,000 characters", "got a number"]
    ):
        assert event == "error" and want in data["error"], data


def test_a_real_bug_is_logged_with_its_traceback_but_the_client_sees_no_internals(classifier, serve, caplog):
    import logging

    from tests.app_process import call_api

    caplog.set_level(logging.INFO, logger="sentiment_app.ui")

    class Broken(CountingClassifier):
        def predict(self, texts):
            raise RuntimeError("cannot open /srv/secret/weights.bin")

    url, _ = serve([Broken(classifier)], AppConfig(max_batch=1))
    event, data = call_api(url, "classify", ["好"])
    assert event == "error" and "/srv/secret" not in json_text(data) and "reference" in data["error"]
    event, data = call_api(url, "compare", [["好"]])
    assert event == "error" and "/srv/secret" not in json_text(data)
    bugs = [r for r in caplog.records if r.name == "sentiment_app.ui" and r.levelno == logging.ERROR]
    assert len(bugs) == 2 and all(r.exc_info for r in bugs)  # a traceback each, for the maintainer


def test_a_users_mistake_is_one_log_line_and_no_traceback(classifier, serve, caplog, capfd):
    import logging

    from tests.app_process import call_api

    caplog.set_level(logging.INFO)
    url, _ = serve([classifier], AppConfig())
    capfd.readouterr()
    assert call_api(url, "compare", [[None]])[0] == "error"
    assert call_api(url, "classify", [123])[0] == "complete"
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    lines = refused_lines(caplog)
    assert len(lines) == 2 and all("\n" not in line for line in lines), lines
    assert not [r for r in caplog.records if r.exc_info]


def json_text(data) -> str:
    import json

    return json.dumps(data, ensure_ascii=False)


def test_credentials_in_the_endpoint_never_reach_page_config_or_log(serve, monkeypatch, caplog):
    """HF_ENDPOINT with user:password@ pointing nowhere: the app falls back and says why, redacted."""
    import logging
    import secrets

    import httpx

    from sentiment_app.model.loading import load_serving_classifiers
    from tests.fake_hub import refused_endpoint

    caplog.set_level(logging.INFO)
    password = "pw" + secrets.token_hex(8)
    token = "hf_" + secrets.token_hex(17)
    monkeypatch.setenv("HF_ENDPOINT", refused_endpoint().replace("http://", f"http://mirror-user:{password}@"))
    config = AppConfig(model="team/sentiment-lora", token=token, hub_timeout=2)
    classifiers = load_serving_classifiers(config)
    assert classifiers[0].info.warning and "cannot reach the Hub" in classifiers[0].info.warning
    url, _ = serve(classifiers, config)
    shown = httpx.get(url).text + httpx.get(f"{url.rstrip('/')}/config").text
    assert "mirror-user" not in shown and "***@127.0.0.1" in shown.replace("\\u002a", "*")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (password, token):
        assert secret not in shown and secret not in logged


def test_classify_file_reads_nothing_but_uploads(classifier, serve, tmp_path):
    """Issue 14: /classify_file given a server path (plain, untagged, relative, ../, a symlink out of the
    upload folder) used to return its contents; each is now refused with one and the same line."""
    from gradio_client.exceptions import AppError

    from sentiment_app.batch import UPLOAD_REFUSED

    counting = CountingClassifier(classifier)
    url, temp = serve([counting], AppConfig())
    uploads = temp / "gradio"
    uploads.mkdir(exist_ok=True)
    secret = write_reviews(tmp_path / "secret.csv", 5)
    (uploads / "link.csv").symlink_to(secret)
    client = client_for(url)
    attempts = [
        "/etc/passwd",
        "app.py",
        str(ROOT / "app.py"),
        str(secret),
        {"path": "/etc/passwd"},
        {"path": str(secret)},
        str(uploads / ".." / "secret.csv"),
        "../../../../etc/passwd",
        str(uploads / "link.csv"),
        "/no/such/file.csv",
    ]
    messages = []
    for value in attempts:
        with pytest.raises(AppError) as info:
            client.predict(value, "", "", api_name="/classify_file")
        messages.append(str(info.value))
    assert set(messages) == {UPLOAD_REFUSED}, messages
    assert counting.calls == 0


def test_tagged_paths_outside_the_upload_folder_are_refused_before_the_app(classifier, serve, tmp_path):
    """A FileData-tagged path that was never uploaded: Gradio itself refuses it, with one template
    whether the file exists or not, and the endpoints never run."""
    import httpx

    counting = CountingClassifier(classifier)
    url, temp = serve([counting], AppConfig())
    uploads = temp / "gradio"
    uploads.mkdir(exist_ok=True)
    (uploads / "link.csv").symlink_to(write_reviews(tmp_path / "secret.csv", 5))
    errors = {}
    paths = ("/etc/passwd", "/no/such/file.csv", str(uploads / "link.csv"), str(uploads / ".." / "secret.csv"))
    for api, extra in (
        ("classify_file", ["", ""]),
        ("ui_run_table", ["评论", NO_LABEL, counting.info.short_name, *INSIGHT_SETTINGS]),
    ):
        for path in paths:
            data = [{"path": path, "meta": {"_type": "gradio.FileData"}}, *extra]
            event = httpx.post(f"{url}gradio_api/call/{api}", json={"data": data}, timeout=30).json()["event_id"]
            body = httpx.get(f"{url}gradio_api/call/{api}/{event}", timeout=60).text
            assert "event: error" in body and tiny.REVIEWS[0][0] not in body, body
            errors[(api, path)] = body.replace(path, "<path>").replace(os.path.abspath(path), "<path>")
    assert len(set(errors.values())) == 1, errors
    assert counting.calls == 0


def test_cancelled_classify_file_stops_calling_the_model(classifier, serve, tmp_path):
    slow = CountingClassifier(classifier, delay=0.05)
    url, _ = serve([slow], AppConfig())
    from gradio_client import handle_file

    job = client_for(url).submit(
        handle_file(str(write_reviews(tmp_path / "big.csv", 5000))), "", "", api_name="/classify_file"
    )
    deadline = time.monotonic() + 60
    while slow.calls < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert slow.calls >= 2, "the job never started"
    job.cancel()
    time.sleep(1.5)
    after_cancel = slow.calls
    time.sleep(2.0)
    assert slow.calls <= after_cancel + 1  # at most the chunk in flight
    assert slow.calls < 20  # the job did not run to the end


def test_a_job_over_its_time_limit_is_stopped_with_a_message(classifier, serve, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    slow = CountingClassifier(classifier, delay=0.2)
    url, _ = serve([slow], AppConfig(job_timeout=1.0))
    with pytest.raises(AppError, match=r"time limit of 1 s \(SENTIMENT_JOB_TIMEOUT\)"):
        client_for(url).predict(
            handle_file(str(write_reviews(tmp_path / "big.csv", 5000))), "", "", api_name="/classify_file"
        )
    time.sleep(1.0)
    stopped_at = slow.calls
    time.sleep(1.0)
    assert slow.calls <= stopped_at + 1 and slow.calls < 20


def test_request_bodies_over_the_upload_limit_are_cut_off_unread(classifier, serve):
    import httpx

    from sentiment_app.ui import max_body_bytes

    config = AppConfig(max_file_mb=1)
    url, _ = serve([classifier], config)
    body = b'{"data": ["' + b"a" * (max_body_bytes(config) + 10) + b'"]}'
    answer = httpx.post(
        f"{url.rstrip('/')}/gradio_api/call/classify",
        content=body,
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert answer.status_code == 413
    from tests.app_process import call_api

    assert call_api(url, "classify", ["好" * 100])[0] == "complete"  # under the limit: served as usual


def test_the_start_log_names_our_share_flag_not_gradios_launch_argument():
    import io

    from sentiment_app.ui.serving import ShareHintStream

    out = io.StringIO()
    stream = ShareHintStream(out)
    stream.write("* To create a public link, set `share=True` in `launch()`.\n")
    stream.write("* Running on local URL:  http://127.0.0.1:7860\n")
    assert out.getvalue() == (
        "* To create a public link, run `python app.py --share`.\n* Running on local URL:  http://127.0.0.1:7860\n"
    )
    assert stream.getvalue() == out.getvalue()  # everything else is the wrapped stream's
