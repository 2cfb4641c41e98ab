"""Whole jobs in fresh processes: the tutorial's script against ``python -m sentiment_app predict``, and
the app's time from process start to its first served ``/classify``. Run through
``python benchmarks/bench_inference.py --whole-job`` (see there); this module holds the measuring.

Every run is a new process, timed from ``Popen`` to its exit (wall), with its own CPU time and peak RSS
from ``wait4``. A round runs each way twice, on a one-review file (start-up: imports, load, the first
batch, writing) and on the full file, in an order that rotates from round to round, so load from
other tenants of a shared CPU falls on every way; ratios are medians over rounds.
"""

from __future__ import annotations

import csv
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "benchmarks" / "tutorial_predict.py"
TEXT_COLUMN = "review"
FLOORS = {"ours fp32": 1.5, "ours int8": 2.8}  # issue 19: whole job, 240 reviews, over the tutorial's script
APP_FLOORS_S = {"embedded": 6.0, "bert-base adapter": 10.0}  # issue 19: process start to a served /classify


def write_texts(path: Path, texts: Sequence[str]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([TEXT_COLUMN])
        writer.writerows([t] for t in texts)
    return path


def run_process(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> dict[str, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MB) of one fresh process."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    stderr = process.stderr.read() if process.stderr else b""
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{stderr.decode()[-3000:]}")
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }


def thread_env(threads: int | None) -> dict[str, str] | None:
    """The environment for every process: ``threads`` OpenMP/MKL threads when given (the tutorial's torch
    takes its thread count from there), else this one's."""
    if not threads:
        return None
    return os.environ | {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def job_commands(
    base: Path, adapter: Path, tree: Path | None, threads: int | None = None
) -> dict[str, tuple[list[str], Path]]:
    """Way -> (command with INPUT and OUTPUT placeholders, working folder)."""
    ours = [sys.executable, "-m", "sentiment_app", "predict", "{input}", "-o", "{output}", "-q"]
    ours += ["--model", str(adapter)] + (["--threads", str(threads)] if threads else [])
    ways = {
        "tutorial": ([sys.executable, str(TUTORIAL), str(base), str(adapter), "{input}", "{output}"], ROOT),
        "ours fp32": (ours, ROOT),
        "ours int8": (ours + ["--quantize", "int8"], ROOT),
    }
    if tree is not None:  # the same CLI from another checkout (say, main before this change)
        ways["before fp32"] = (ours, tree)
        ways["before int8"] = (ours + ["--quantize", "int8"], tree)
    return ways


def whole_jobs(
    base: Path,
    adapter: Path,
    texts: Sequence[str],
    folder: Path,
    rounds: int,
    tree: Path | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Every way on one review and on all ``texts``, ``rounds`` times, interleaved; per-way medians."""
    full = write_texts(folder / "reviews.csv", texts)
    one = write_texts(folder / "one-review.csv", texts[:1])
    ways = job_commands(base, adapter, tree, threads)
    env = thread_env(threads)
    names = list(ways)
    runs: dict[str, list[dict]] = {w: [] for w in names}
    for turn in range(rounds):
        order = names[turn % len(names) :] + names[: turn % len(names)]
        for way in order:
            command, cwd = ways[way]
            result: dict[str, Any] = {"load_before": round(os.getloadavg()[0], 2)}
            for label, source in (("startup", one), ("job", full)):
                output = folder / f"out-{label}.csv"
                filled = [part.format(input=source, output=output) for part in command]
                result[label] = run_process(filled, cwd, env)
            runs[way].append(result)
            print(
                f"  round {turn + 1}/{rounds} {way}: start-up {result['startup']['wall_s']:.1f} s, "
                f"job {result['job']['wall_s']:.1f} s ({result['job']['cpu_s']:.1f} s CPU, "
                f"{result['job']['peak_rss_mb']:.0f} MB); load {result['load_before']:.1f}",
                flush=True,
            )
    return summarize_jobs(runs, len(texts))


def summarize_jobs(runs: dict[str, list[dict]], count: int) -> dict[str, Any]:
    baseline = runs["tutorial"]
    out: dict[str, Any] = {}
    for way, results in runs.items():
        job = [r["job"]["wall_s"] for r in results]
        startup = [r["startup"]["wall_s"] for r in results]
        work = [j - s for j, s in zip(job, startup)]  # the classification itself, start-up taken off
        base_job = [r["job"]["wall_s"] for r in baseline]
        base_work = [r["job"]["wall_s"] - r["startup"]["wall_s"] for r in baseline]
        out[way] = {
            "texts": count,
            "job_s": round(statistics.median(job), 2),
            "startup_s": round(statistics.median(startup), 2),
            "classify_s": round(statistics.median(work), 2),
            "job_cpu_s": round(statistics.median(r["job"]["cpu_s"] for r in results), 2),
            "startup_cpu_s": round(statistics.median(r["startup"]["cpu_s"] for r in results), 2),
            "peak_rss_mb": max(r["job"]["peak_rss_mb"] for r in results),
            "whole_job_ratio": round(statistics.median(b / j for b, j in zip(base_job, job)), 3),
            "whole_job_ratio_per_round": [round(b / j, 3) for b, j in zip(base_job, job)],
            "whole_job_ratio_cpu": round(
                statistics.median(b["job"]["cpu_s"] / r["job"]["cpu_s"] for b, r in zip(baseline, results)), 3
            ),
            "classify_ratio": round(statistics.median(b / w for b, w in zip(base_work, work)), 3),
            "load_before_runs": [r["load_before"] for r in results],
            "runs": results,
        }
    return out


# ---- the app: process start to the first served /classify ------------------------------------------


def first_answer(
    tree: Path, flags: Sequence[str], log: Path, limit_s: float = 300.0, threads: int | None = None
) -> dict[str, float]:
    """Start ``app.py`` from ``tree``, call ``/classify`` until it answers; seconds, then the app's peak RSS."""
    sys.path.insert(0, str(ROOT))
    from tests.app_process import app_env, call_api, free_port, stop

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as handle:
        process = subprocess.Popen(
            [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port), *flags]
            + (["--threads", str(threads)] if threads else []),
            cwd=tree,
            env=app_env(**({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)} if threads else {})),
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"app.py exited ({process.returncode}); see {log}")
            if time.perf_counter() - start > limit_s:
                raise RuntimeError(f"app.py did not answer within {limit_s:.0f} s; see {log}")
            try:
                state, data = call_api(url, "classify", ["房间干净整洁，服务态度非常好。"], timeout=60)
            except OSError:
                time.sleep(0.05)
                continue
            except Exception as exc:  # httpx's connection errors before the server listens
                if "connect" not in type(exc).__name__.lower():
                    raise
                time.sleep(0.05)
                continue
            if state == "complete":
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        peak = _peak_rss_mb(process.pid)
        ticks = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[11:13]  # utime, stime
        cpu = sum(int(t) for t in ticks) / os.sysconf("SC_CLK_TCK")
    finally:
        stop(process)
    return {"first_answer_s": round(seconds, 2), "first_answer_cpu_s": round(cpu, 2), "peak_rss_mb": peak}


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def app_first_answers(
    adapter: Path, rounds: int, folder: Path, tree: Path | None, threads: int | None = None
) -> dict[str, Any]:
    """Time to first answer with the default (embedded) model and with the bert-base adapter, for this
    checkout and (when given) another one, interleaved over ``rounds``."""
    trees = {"ours": ROOT} | ({"before": tree} if tree is not None else {})
    models = {"embedded": [], "bert-base adapter": ["--model", str(adapter)]}
    results: dict[str, dict[str, list]] = {f"{t} {m}": [] for t in trees for m in models}
    for turn in range(rounds):
        keys = list(results)
        for key in keys[turn % len(keys) :] + keys[: turn % len(keys)]:
            tree_name, model = key.split(" ", 1)
            result = first_answer(trees[tree_name], models[model], folder / "app.log", threads=threads)
            result["load_before"] = round(os.getloadavg()[0], 2)
            results[key].append(result)
            print(
                f"  round {turn + 1}/{rounds} app {key}: first answer {result['first_answer_s']:.1f} s, "
                f"peak RSS {result['peak_rss_mb']:.0f} MB",
                flush=True,
            )
    return {
        key: {
            "first_answer_s": round(statistics.median(r["first_answer_s"] for r in runs), 2),
            "first_answer_cpu_s": round(statistics.median(r["first_answer_cpu_s"] for r in runs), 2),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "runs": runs,
        }
        for key, runs in results.items()
    }


def table(jobs: dict[str, Any]) -> str:
    rows = [
        "| way | whole job (240 reviews) | start-up (1 review) | classifying | whole-job vs tutorial | "
        "in CPU time | classifying vs tutorial | peak RSS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for way, r in jobs.items():
        rows.append(
            f"| {way} | {r['job_s']:.1f} s | {r['startup_s']:.1f} s | {r['classify_s']:.1f} s | "
            f"{r['whole_job_ratio']:.2f}x | {r['whole_job_ratio_cpu']:.2f}x | {r['classify_ratio']:.2f}x | "
            f"{r['peak_rss_mb']:.0f} MB |"
        )
    return "\n".join(rows)
