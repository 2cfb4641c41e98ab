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
from sentiment_app.loading import load_classifier
from sentiment_app.ui import build_demo, launch
from tests import tiny
from tests.app_process import ROOT, free_port


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
        launch(demo, config, results=results, server_name="127.0.0.1", server_port=free_port(),
               prevent_thread_lock=True, quiet=True)
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
    job = client.submit(handle_file(str(path)), "评论", "（无 none）", slow.info.short_name,
                        api_name="/ui_run_table")
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
    assert rows[0] == ["评论", "sentiment", "confidence", "prob_负面", "prob_正面"] and len(rows) == 31
    assert summary["rows"] == 30 and summary["classified"] == 30


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
    leftover = [p for p in (temp / "gradio").rglob("*") if p.is_file()] + \
               [p for p in (temp / "results").rglob("*") if p.is_file()]
    assert len(leftover) <= 4, leftover  # at most the newest upload and its result, not 100 of each


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
    attempts = ["/etc/passwd", "app.py", str(ROOT / "app.py"), str(secret), {"path": "/etc/passwd"},
                {"path": str(secret)}, str(uploads / ".." / "secret.csv"), "../../../../etc/passwd",
                str(uploads / "link.csv"), "/no/such/file.csv"]
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
    for api, extra in (("classify_file", ["", ""]), ("ui_run_table", ["评论", "（无 none）", counting.info.short_name])):
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

    job = client_for(url).submit(handle_file(str(write_reviews(tmp_path / "big.csv", 5000))), "", "",
                                 api_name="/classify_file")
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
        client_for(url).predict(handle_file(str(write_reviews(tmp_path / "big.csv", 5000))), "", "",
                                api_name="/classify_file")
    time.sleep(1.0)
    stopped_at = slow.calls
    time.sleep(1.0)
    assert slow.calls <= stopped_at + 1 and slow.calls < 20
