"""Load benchmark: the app as a crowd uses it, with dynamic batching off and on.

Starts ``python app.py`` on a loopback port (once per mode), then in parallel:
  * ``--callers`` gradio_client callers x ``--requests`` single texts each on ``/classify``
    (a mix of short, long and empty reviews), and
  * ``--uploaders`` callers each sending a ``--rows``-row CSV to ``/classify_file``.
Every answer is checked against the same model run alone in this process. Reports success
rate, p50/p95 latency per endpoint, texts/s, the app's peak RSS and the temp-folder size,
and the batching-on/off ratio. Bounded: a fixed number of requests; stops by itself.

    python benchmarks/bench_load.py                       # embedded model, 32x5 texts + 4x20,000-row CSVs
    python benchmarks/bench_load.py --model DIR --rows 5000 --modes on
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import csv
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.chnsenticorp import FOLDER, read_reviews  # noqa: E402 - after the path is set
from benchmarks.results_file import write_results  # noqa: E402

DEV = FOLDER / "dev.tsv"
RESULTS = ROOT / "benchmarks" / "results"


def review_texts() -> list[str]:
    """Real ChnSentiCorp dev reviews when present, else generated text of a similar length profile."""
    if DEV.is_file():
        return [text for text, _ in read_reviews(DEV)]
    rng = random.Random(0)
    chars = "房间干净服务态度很好差失望推荐价格便宜贵质量不错还行一般物流快慢包装破损满意电脑屏幕书内容"
    return ["".join(rng.choice(chars) for _ in range(int(rng.lognormvariate(4.3, 0.7)) + 5)) for _ in range(1200)]


def single_requests(texts: list[str], count: int, seed: int = 0) -> list[str]:
    """Mostly short reviews, some long ones (several windows), some empty."""
    rng = random.Random(seed)
    short = [t for t in texts if len(t) < 150]
    out = []
    for i in range(count):
        kind = i % 10
        if kind == 0:
            out.append("")
        elif kind == 1:
            out.append("".join(rng.sample(texts, 12)))  # ~1,300 characters: 3+ windows of 512 tokens
        else:
            out.append(rng.choice(short))
    return out


def write_csv(path: Path, texts: list[str], rows: int) -> Path:
    rng = random.Random(1)
    with open(path, "w", encoding="gb18030", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["评论", "订单号"])
        for i in range(rows):
            writer.writerow([rng.choice(texts), f"A{i:06d}"])
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def status_kb(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (``/proc/PID/stat`` fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class ModeResult:
    mode: str
    single_ok: int = 0
    single_busy: int = 0
    single_failed: list[str] = field(default_factory=list)
    single_latency: list[float] = field(default_factory=list)
    single_wall: float = 0.0
    file_ok: int = 0
    file_failed: list[str] = field(default_factory=list)
    file_latency: list[float] = field(default_factory=list)
    rows_done: int = 0
    wall: float = 0.0
    rss_start_mb: float = 0.0
    rss_peak_mb: float = 0.0
    temp_peak_mb: float = 0.0
    start_seconds: float = 0.0
    app_cpu_s: float = 0.0  # the app's CPU time during the requests
    client_cpu_s: float = 0.0  # this process's (the gradio_client callers') CPU time during the requests


def run_mode(
    mode: str, args: argparse.Namespace, texts: list[str], expected: dict[str, dict], csv_path: Path
) -> ModeResult:
    from gradio_client import Client, handle_file

    result = ModeResult(mode)
    port = free_port()
    temp = Path(tempfile.mkdtemp(prefix=f"bench-load-{mode}-"))
    env = dict(
        os.environ,
        GRADIO_TEMP_DIR=str(temp / "gradio"),
        TMPDIR=str(temp),
        GRADIO_ANALYTICS_ENABLED="False",
        SENTIMENT_MAX_BATCH="16" if mode == "on" else "1",
        PYTHONUNBUFFERED="1",
    )
    command = [sys.executable, str(ROOT / "app.py"), "--port", str(port), "--host", "127.0.0.1"]
    if args.model:
        command += ["--model", args.model]
    log = open(temp / "app.log", "w")
    started = time.perf_counter()
    app = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}/"
    try:
        while True:
            if app.poll() is not None:
                raise RuntimeError(f"the app exited: see {temp / 'app.log'}")
            try:
                urllib.request.urlopen(url, timeout=1).read(1)
                break
            except OSError:
                if time.perf_counter() - started > 180:
                    raise RuntimeError("the app did not start within 180 s") from None
                time.sleep(0.5)
        result.start_seconds = time.perf_counter() - started
        result.rss_start_mb = status_kb(app.pid, "VmRSS") / 1024
        stop_sampling = threading.Event()

        def sample_temp() -> None:
            while not stop_sampling.is_set():
                result.temp_peak_mb = max(result.temp_peak_mb, folder_bytes(temp) / 2**20)
                stop_sampling.wait(1.0)

        sampler = threading.Thread(target=sample_temp, daemon=True)
        sampler.start()

        def single_caller(index: int) -> None:
            client = Client(url, verbose=False)
            for text in single_requests(texts, args.requests, seed=index):
                t0 = time.perf_counter()
                try:
                    answer = client.predict(text, api_name="/classify")
                except Exception as exc:  # noqa: BLE001 - a benchmark counts every kind of failure
                    message = str(exc)
                    if "queue is full" in message.lower():
                        result.single_busy += 1
                    else:
                        result.single_failed.append(f"{type(exc).__name__}: {message[:200]}")
                    continue
                result.single_latency.append(time.perf_counter() - t0)
                want = expected[text]
                if answer.get("label") != want["label"] or (
                    want["label"] is not None
                    and any(abs(answer["probabilities"][k] - v) > 1e-4 for k, v in want["probabilities"].items())
                ):
                    result.single_failed.append(f"wrong answer for a {len(text)}-char text: {answer} vs {want}")
                else:
                    result.single_ok += 1

        def file_caller(index: int) -> None:
            client = Client(url, verbose=False)
            t0 = time.perf_counter()
            try:
                out_file, summary = client.predict(handle_file(str(csv_path)), "", "", api_name="/classify_file")
            except Exception as exc:  # noqa: BLE001
                result.file_failed.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                return
            result.file_latency.append(time.perf_counter() - t0)
            with open(out_file, encoding="utf-8-sig", newline="") as handle:
                rows = list(csv.reader(handle))
            if (
                len(rows) != args.rows + 1
                or rows[0][:3] != ["评论", "订单号", "sentiment"]
                or summary["rows"] != args.rows
            ):
                result.file_failed.append(f"bad result file: {len(rows) - 1} rows, header {rows[0][:4]}")
            else:
                result.file_ok += 1
                result.rows_done += args.rows

        t_all = time.perf_counter()
        app_cpu, client_cpu = cpu_seconds(app.pid), time.process_time()
        with cf.ThreadPoolExecutor(args.callers + args.uploaders) as pool:
            files = [pool.submit(file_caller, i) for i in range(args.uploaders)]
            t_single = time.perf_counter()
            singles = [pool.submit(single_caller, i) for i in range(args.callers)]
            cf.wait(singles)
            result.single_wall = time.perf_counter() - t_single
            cf.wait(files)
        result.wall = time.perf_counter() - t_all
        result.app_cpu_s = cpu_seconds(app.pid) - app_cpu
        result.client_cpu_s = time.process_time() - client_cpu
        stop_sampling.set()
        sampler.join()
        result.rss_peak_mb = status_kb(app.pid, "VmHWM") / 1024
    finally:
        app.terminate()
        try:
            app.wait(timeout=30)
        except subprocess.TimeoutExpired:
            app.kill()
        log.close()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="artifact folder or Hub id to serve (default: the embedded model)")
    parser.add_argument("--callers", type=int, default=32)
    parser.add_argument("--requests", type=int, default=5)
    parser.add_argument("--uploaders", type=int, default=4)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--modes", default="off,on", help="dynamic batching modes to run, in order")
    parser.add_argument("--output", type=Path, default=RESULTS / "load.json")
    args = parser.parse_args()

    from sentiment_app.config import AppConfig
    from sentiment_app.model.loading import load_classifier

    texts = review_texts()
    classifier = load_classifier(AppConfig(model=args.model))
    wanted = {t for i in range(args.callers) for t in single_requests(texts, args.requests, seed=i)}
    expected = {}
    for text in wanted:
        p = classifier.predict(text)
        expected[text] = {"label": p.label, "probabilities": p.probabilities}
    del classifier
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    csv_path = write_csv(work / "reviews_20k.csv", texts, args.rows)
    load_start = os.getloadavg()[0]

    results = []
    for mode in args.modes.split(","):
        print(
            f"== dynamic batching {mode}: {args.callers}x{args.requests} texts + {args.uploaders}x{args.rows:,}-row "
            "CSV",
            flush=True,
        )
        results.append(run_mode(mode.strip(), args, texts, expected, csv_path))

    rows = []
    for r in results:
        n_single = args.callers * args.requests
        rows.append(
            {
                "batching": r.mode,
                "single_success": f"{r.single_ok}/{n_single}",
                "single_busy": r.single_busy,
                "single_p50_s": round(percentile(r.single_latency, 0.5), 3),
                "single_p95_s": round(percentile(r.single_latency, 0.95), 3),
                "texts_per_s": round(r.single_ok / r.single_wall, 1) if r.single_wall else None,
                "file_success": f"{r.file_ok}/{args.uploaders}",
                "file_p50_s": round(percentile(r.file_latency, 0.5), 1),
                "file_p95_s": round(percentile(r.file_latency, 0.95), 1),
                "csv_rows_per_s": round(r.rows_done / r.wall, 1) if r.wall else None,
                "rss_start_mb": round(r.rss_start_mb),
                "rss_peak_mb": round(r.rss_peak_mb),
                "app_cpu_s": round(r.app_cpu_s, 1),
                "client_cpu_s": round(r.client_cpu_s, 1),
                "temp_peak_mb": round(r.temp_peak_mb, 1),
                "start_s": round(r.start_seconds, 1),
                "errors": (r.single_failed + r.file_failed)[:5],
            }
        )
    header = [
        "batching",
        "single_success",
        "single_busy",
        "single_p50_s",
        "single_p95_s",
        "texts_per_s",
        "file_success",
        "file_p50_s",
        "file_p95_s",
        "csv_rows_per_s",
        "rss_start_mb",
        "rss_peak_mb",
        "app_cpu_s",
        "client_cpu_s",
        "temp_peak_mb",
        "start_s",
    ]
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(row[h]) for h in header) + " |")
    by_mode = {row["batching"]: row for row in rows}
    ratio = {}
    if {"on", "off"} <= set(by_mode) and by_mode["off"]["texts_per_s"]:
        ratio = {
            "texts_per_s_on_over_off": round(by_mode["on"]["texts_per_s"] / by_mode["off"]["texts_per_s"], 2),
            "p95_off_over_on": round(by_mode["off"]["single_p95_s"] / by_mode["on"]["single_p95_s"], 2),
        }
        print(
            f"\ndynamic batching on vs off: texts/s x{ratio['texts_per_s_on_over_off']}, "
            f"single-text p95 latency off/on x{ratio['p95_off_over_on']} (above 1: batching shortens it)"
        )
    for row in rows:
        for error in row["errors"]:
            print(f"[{row['batching']}] {error}")
    report = {
        "rows": rows,
        "ratio": ratio,
        "args": vars(args) | {"output": str(args.output)},
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "load_average_at_start": load_start},
    }
    write_results(args.output, report)
    failed = any(r.single_failed or r.file_failed for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
