"""Hostile-caller benchmark (issue 14): the real app attacked on a loopback port, a probe beside it.

Starts ``python app.py`` on 127.0.0.1 (HF_ENDPOINT set to a URL with ``user:password@`` that
refuses connections, so the app falls back to the embedded model and has a credential to leak),
then runs each class of attack in turn while a probe client sends one fixed review to
``/classify`` every 0.25 s. For each case it records the time until the app refused or finished
it, the app's peak RSS (its whole process tree) during the case, and the probe's worst latency;
then it checks the floors: every case refused or finished within 30 s, RSS never above 2 GB,
probes answered within 2 s throughout, and the same answer for the fixed review before and after.

    python benchmarks/bench_hostile.py                  # every case, ~3-5 minutes on 2 cores
    python benchmarks/bench_hostile.py --cases flood,poison,huge

Bounded: each case has a client-side deadline (45 s), an app over the RSS cap (3 GB) is killed
and restarted, and the whole run stops by itself. Loopback only; the hostile files are built in
a temporary folder (zip bombs written as streams) and deleted afterwards.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.results_file import write_results  # noqa: E402 - after the path is set

RESULTS = ROOT / "benchmarks" / "results"
PROBE_TEXT = "房间干净整洁，服务态度非常好，下次还会再来。"
PROBE_EVERY_S = 0.25
CASE_DEADLINE_S = 45.0  # client-side bound per case; the floor is 30 s
RSS_CAP_MB = 3072  # above this the app is killed (and the case fails): the benchmark must not take the machine
FLOOR_CASE_S, FLOOR_RSS_MB, FLOOR_PROBE_S = 30.0, 2048.0, 2.0
FILE_TTL_S = 20  # the app's SENTIMENT_FILE_TTL here, so the leftovers case can wait it out
IDLE_S = 5.0  # probing the app alone first, for the baseline


# ---- talking to the app over plain HTTP --------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def headers_for(client: str) -> dict[str, str]:
    """Each simulated client has its own address (the app trusts X-Forwarded-For from a loopback peer)."""
    return {"X-Forwarded-For": client}


def call(base: str, api: str, data: list, client: str, timeout: float = CASE_DEADLINE_S) -> tuple[str, Any]:
    """A named endpoint over /gradio_api/call: ("complete"|"error"|"refused"|"timeout", payload)."""
    import httpx

    body = json.dumps({"data": data}, ensure_ascii=True).encode("ascii")
    try:
        answer = httpx.post(
            f"{base}/gradio_api/call/{api}",
            content=body,
            timeout=timeout,
            headers={"content-type": "application/json", **headers_for(client)},
        )
        if answer.status_code != 200:
            try:
                return "refused", answer.json().get("detail")
            except ValueError:
                return "refused", answer.text[:300]
        event_id, event = answer.json()["event_id"], None
        with httpx.stream("GET", f"{base}/gradio_api/call/{api}/{event_id}", timeout=timeout) as stream:
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    return event, json.loads(line.split(":", 1)[1])
    except httpx.TimeoutException:
        return "timeout", None
    except httpx.HTTPError as exc:
        return "error", f"{type(exc).__name__}: {exc}"
    return "error", None


def join(base: str, fn_index: int, data: list, client: str, timeout: float = CASE_DEADLINE_S) -> tuple[str, Any]:
    """A UI event (private endpoints such as the tabs' callbacks) the way the page sends it: queue/join + SSE."""
    import httpx

    session = secrets.token_hex(8)
    body = json.dumps(
        {"data": data, "fn_index": fn_index, "session_hash": session, "trigger_id": None, "event_data": None},
        ensure_ascii=True,
    ).encode("ascii")
    try:
        answer = httpx.post(
            f"{base}/gradio_api/queue/join",
            content=body,
            timeout=timeout,
            headers={"content-type": "application/json", **headers_for(client)},
        )
        if answer.status_code != 200:
            return "refused", answer.json().get("detail")
        with httpx.stream(
            "GET", f"{base}/gradio_api/queue/data", params={"session_hash": session}, timeout=timeout
        ) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line.split(":", 1)[1])
                if message.get("msg") == "process_completed":
                    output = message.get("output") or {}
                    return ("complete" if message.get("success") else "error"), output.get("data", output)
    except httpx.TimeoutException:
        return "timeout", None
    return "error", None


def upload(base: str, path: Path, client: str) -> dict[str, Any] | str:
    """Upload ``path`` as the page does; the FileData to send to an endpoint, or why the upload failed."""
    import httpx

    with open(path, "rb") as handle:
        answer = httpx.post(
            f"{base}/gradio_api/upload",
            files={"files": (path.name, handle)},
            headers=headers_for(client),
            timeout=CASE_DEADLINE_S,
        )
    if answer.status_code != 200:
        return f"upload refused: HTTP {answer.status_code} {answer.text[:200]}"
    return {"path": answer.json()[0], "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}


def fn_indices(base: str) -> dict[str, int]:
    import httpx

    config = httpx.get(f"{base}/config", timeout=30).json()
    return {dep.get("api_name"): dep["id"] for dep in config["dependencies"] if dep.get("api_name")}


# ---- the app's process tree ---------------------------------------------------------------------


def tree_rss_mb(pid: int) -> float:
    """RSS of ``pid`` and every descendant (a batch job in a subprocess counts as the app)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


class App:
    """``python app.py`` on a loopback port, restartable, with its log, RSS sampler and probe."""

    def __init__(self, workdir: Path, password: str, token: str) -> None:
        self.workdir, self.password, self.token = workdir, password, token
        self.process: subprocess.Popen | None = None
        self.base = ""
        self.logs: list[Path] = []
        self.rss: list[tuple[float, float]] = []
        self.probes: list[tuple[float, float, str]] = []  # (start, latency, label or failure)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> float:
        port = free_port()
        dead = free_port()  # nothing listens there: the "mirror" refuses at once
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTIMENT_", "GRADIO_"))}
        env.update(
            GRADIO_ANALYTICS_ENABLED="False",
            PYTHONUNBUFFERED="1",
            GRADIO_TEMP_DIR=str(self.workdir / "gradio"),
            TMPDIR=str(self.workdir / "tmp"),
            HF_ENDPOINT=f"http://mirror-user:{self.password}@127.0.0.1:{dead}",
            HF_TOKEN=self.token,
            SENTIMENT_MODEL="bench/not-there",
            SENTIMENT_HUB_TIMEOUT="3",
            SENTIMENT_FILE_TTL=str(FILE_TTL_S),
        )
        env.pop("HF_HUB_OFFLINE", None)
        (self.workdir / "tmp").mkdir(parents=True, exist_ok=True)
        log = self.workdir / f"app-{len(self.logs)}.log"
        self.logs.append(log)
        started = time.perf_counter()
        with open(log, "w", encoding="utf-8") as handle:
            self.process = subprocess.Popen(
                [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)],
                cwd=ROOT,
                env=env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.base = f"http://127.0.0.1:{port}"
        import httpx

        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the app exited: see {log}")
            try:
                if httpx.get(self.base + "/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.perf_counter() - started > 240:
                raise RuntimeError("the app did not start within 240 s")
            time.sleep(0.5)
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._sample, daemon=True),
            threading.Thread(target=self._probe, daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return time.perf_counter() - started

    def _sample(self) -> None:
        while not self._stop.is_set() and self.process and self.process.poll() is None:
            mb = tree_rss_mb(self.process.pid)
            self.rss.append((time.perf_counter(), mb))
            if mb > RSS_CAP_MB:
                print(f"  ! app RSS {mb:.0f} MB over the {RSS_CAP_MB} MB cap: killing it", flush=True)
                self.process.kill()
                return
            self._stop.wait(0.2)

    def _probe(self) -> None:
        while not self._stop.is_set() and self.process and self.process.poll() is None:
            t0 = time.perf_counter()
            event, data = call(self.base, "classify", [PROBE_TEXT], "198.51.100.250", timeout=30)
            latency = time.perf_counter() - t0
            label = data[0].get("label") if event == "complete" and data and isinstance(data[0], dict) else None
            self.probes.append((t0, latency, str(label) if label else f"{event}: {str(data)[:120]}"))
            self._stop.wait(max(0.0, PROBE_EVERY_S - latency))

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=35)
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def window(self, start: float, end: float) -> tuple[float, float, int, list[str]]:
        """(peak RSS MB, worst probe latency s, probes, probe failures) between two instants."""
        rss = [mb for t, mb in self.rss if start <= t <= end] or [mb for t, mb in self.rss if t <= end][-1:]
        # a probe counts for every case its wait overlaps, so a slow answer is never hidden at a boundary
        probes = [(lat, label) for t, lat, label in self.probes if t <= end and t + lat >= start]
        failures = [label for _, label in probes if ":" in label]
        return (max(rss, default=0.0), max((lat for lat, _ in probes), default=0.0), len(probes), failures)


# ---- hostile inputs, built in the run ------------------------------------------------------------

XLSX_HEAD = {
    "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
    'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    'spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.'
    'openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
    "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
    'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
    '2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
    'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
    'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.'
    'org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
    'Target="sharedStrings.xml"/></Relationships>',
}
SHEET_OPEN = (
    '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
    'spreadsheetml/2006/main">'
)


def write_xlsx(path: Path, sheet: Callable[[Any], None], shared: Callable[[Any], None] | None = None) -> Path:
    """An .xlsx whose sheet (and shared strings) are written by callbacks, streamed into the zip."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, text in XLSX_HEAD.items():
            archive.writestr(name, text)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as handle:
            sheet(handle)
        with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as handle:
            if shared is None:
                handle.write(
                    b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
                    b'spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>x</t></si></sst>'
                )
            else:
                shared(handle)
    return path


def sheet_bomb(path: Path, inflated_mb: int) -> Path:
    """A sheet of ``inflated_mb`` MB of identical rows: ~1,000x smaller zipped."""
    row = "".join('<c t="inlineStr"><is><t>好评好评好评好评</t></is></c>' for _ in range(20))
    chunk = ("<row>" + row + "</row>").encode() * 2000

    def sheet(handle: Any) -> None:
        handle.write((SHEET_OPEN + "<sheetData>").encode())
        for _ in range(inflated_mb * 2**20 // len(chunk)):
            handle.write(chunk)
        handle.write(b"</sheetData></worksheet>")

    return write_xlsx(path, sheet)


def shared_strings_bomb(path: Path, inflated_mb: int) -> Path:
    """One cell pointing at a shared string of ``inflated_mb`` MB."""

    def sheet(handle: Any) -> None:
        handle.write(
            (SHEET_OPEN + '<sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row></sheetData></worksheet>').encode()
        )

    def shared(handle: Any) -> None:
        handle.write(
            b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
            b'spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>'
        )
        block = "差评".encode() * (2**20 // 6)
        for _ in range(inflated_mb):
            handle.write(block)
        handle.write(b"</t></si></sst>")

    return write_xlsx(path, sheet, shared)


def huge_range_xlsx(path: Path) -> Path:
    """1.6 KB declaring A1:XFD1048576, with cells only in the first and the last row."""

    def sheet(handle: Any) -> None:
        handle.write(
            (
                SHEET_OPEN + '<dimension ref="A1:XFD1048576"/><sheetData>'
                '<row r="1"><c r="A1" t="inlineStr"><is><t>评论</t></is></c></row>'
                '<row r="2"><c r="A2" t="inlineStr"><is><t>很好</t></is></c></row>'
                '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>差</t></is></c></row>'
                "</sheetData></worksheet>"
            ).encode()
        )

    return write_xlsx(path, sheet)


def wide_csv(path: Path, columns: int) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(",".join(f"c{i}" for i in range(columns)) + "\n")
        handle.write(",".join("好" for _ in range(columns)) + "\n")
    return path


def reviews_csv(path: Path, rows: int) -> Path:
    texts = ["房间干净整洁，服务态度非常好。", "物流太慢，包装破损，东西有划痕。", "价格实惠，味道正宗，服务周到。"]
    with open(path, "w", encoding="utf-8-sig") as handle:
        handle.write("评论\n" + "\n".join(texts[i % 3] for i in range(rows)) + "\n")
    return path


# ---- the cases -------------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    what: str
    outcome: str = ""
    seconds: float = 0.0  # until refused or finished (the slowest request of the case)
    peak_rss_mb: float = 0.0
    probe_max_s: float = 0.0
    probes: int = 0
    probe_failures: list[str] = field(default_factory=list)
    ok: bool = False
    detail: dict[str, Any] = field(default_factory=dict)


def timed(fn: Callable[[], tuple[str, Any]]) -> tuple[float, str, Any]:
    t0 = time.perf_counter()
    event, data = fn()
    return time.perf_counter() - t0, event, data


def text_of(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)[:300] if data is not None else ""


def case_path_read(app: App, work: Path) -> tuple[bool, str, float, dict]:
    secret = "hf_" + secrets.token_hex(17)
    env_file = work / "secret.env"
    env_file.write_text(f"HF_TOKEN={secret}\n", encoding="utf-8")
    tries = {
        "plain string": ["/etc/passwd", "", ""],
        "dict without meta": [{"path": "/etc/passwd"}, "", ""],
        "FileData meta, outside uploads": [{"path": str(env_file), "meta": {"_type": "gradio.FileData"}}, "", ""],
        "missing file": [{"path": "/nonexistent/x.csv", "meta": {"_type": "gradio.FileData"}}, "", ""],
    }
    worst, leaked, outcomes = 0.0, False, {}
    for label, data in tries.items():
        seconds, event, answer = timed(lambda data=data: call(app.base, "classify_file", data, "198.51.100.1"))
        worst = max(worst, seconds)
        body = text_of(answer)
        leaked |= "root:" in body or secret in body or event == "complete"
        outcomes[label] = f"{event}: {body[:160]}"
    messages = {v.split(": ", 1)[-1] for k, v in outcomes.items() if k != "plain string"}
    return (
        not leaked,
        "refused, nothing read" if not leaked else "FILE CONTENTS SERVED",
        worst,
        {"outcomes": outcomes, "same message whether the path exists": len(messages) == 1},
    )


BUILT: dict[str, tuple[Path, float]] = {}  # hostile files, built before the app starts (their CPU is not the app's)


def case_file(name: str, build: Callable[[Path], Path]) -> Callable[[App, Path], tuple[bool, str, float, dict]]:
    def prepare(work: Path) -> None:
        t_build = time.perf_counter()
        BUILT[name] = (build(work / name), time.perf_counter() - t_build)

    def run(app: App, work: Path) -> tuple[bool, str, float, dict]:
        if name not in BUILT:
            prepare(work)
        path, built_s = BUILT[name]
        t0 = time.perf_counter()
        filedata = upload(app.base, path, "198.51.100.2")
        if isinstance(filedata, str):
            return True, filedata, time.perf_counter() - t0, {"file_kb": path.stat().st_size // 1024}
        event, answer = call(app.base, "classify_file", [filedata, "", ""], "198.51.100.2")
        seconds = time.perf_counter() - t0
        outcome = {"complete": "finished", "error": "refused"}.get(event, event)
        message = (answer or {}).get("error") if isinstance(answer, dict) else text_of(answer)
        size_kb = round(path.stat().st_size / 1024)
        path.unlink(missing_ok=True)
        return (
            event in ("complete", "error"),
            outcome,
            seconds,
            {"file_kb": size_kb, "build_s": round(built_s, 1), "message": str(message)[:200]},
        )

    run.prepare = prepare  # type: ignore[attr-defined]
    return run


def case_flood(app: App, work: Path, seconds: float = 15.0) -> tuple[bool, str, float, dict]:
    """Three clients resubmit /classify_file jobs in a loop, and one floods /classify; the probe is a fifth."""
    csv_path = reviews_csv(work / "flood.csv", 1000)
    stop = time.perf_counter() + seconds
    stats = {
        "batch joins": 0,
        "batch refused": 0,
        "batch done": 0,
        "single sent": 0,
        "single refused": 0,
        "refusal_s": [],
        "job_s": [],
        "errors": [],
    }
    lock = threading.Lock()

    def batch_loop(client: str) -> None:
        while time.perf_counter() < stop:
            filedata = upload(app.base, csv_path, client)
            if isinstance(filedata, str):
                with lock:
                    stats["errors"].append(filedata[:100])
                time.sleep(0.2)
                continue
            seconds_, event, answer = timed(
                lambda filedata=filedata: call(app.base, "classify_file", [filedata, "", ""], client)
            )
            with lock:
                stats["batch joins"] += 1
                if event == "refused":
                    stats["batch refused"] += 1
                    stats["refusal_s"].append(seconds_)
                elif event == "complete":
                    stats["batch done"] += 1
                    stats["job_s"].append(seconds_)
                else:
                    stats["errors"].append(f"{event}: {text_of(answer)[:100]}")
            if event == "refused":
                time.sleep(0.2)

    def single_loop() -> None:
        while time.perf_counter() < stop:
            seconds_, event, _ = timed(lambda: call(app.base, "classify", ["好" * 2000], "198.51.100.66"))
            with lock:
                stats["single sent"] += 1
                if event == "refused":
                    stats["single refused"] += 1
                    stats["refusal_s"].append(seconds_)

    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(batch_loop, f"198.51.100.{10 + c}") for c in range(3) for _ in range(4)]
        futures += [pool.submit(single_loop) for _ in range(4)]
        cf.wait(futures)
    total = time.perf_counter() - t0
    refusal = stats.pop("refusal_s")
    jobs = stats.pop("job_s")
    stats["refusal_max_s"] = round(max(refusal, default=0.0), 3)
    stats["job_max_s"] = round(max(jobs, default=0.0), 1)
    stats["errors"] = stats["errors"][:5]
    worst = max([max(refusal, default=0.0), max(jobs, default=0.0)])
    ok = stats["batch refused"] > 0 and stats["batch done"] > 0 and not stats["errors"]
    return (
        ok,
        f"{stats['batch refused']} of {stats['batch joins']} batch joins refused",
        worst,
        {**stats, "wall_s": round(total, 1)},
    )


def case_poison(app: App, work: Path) -> tuple[bool, str, float, dict]:
    good = [
        "房间干净整洁，服务态度非常好。",
        "物流太慢，包装破损。",
        "价格实惠，味道正宗。",
        "屏幕有坏点，售后拒绝换货。",
    ] * 2
    bad = [123, None, "好\ud800评", {"text": "好"}, "好" * 30_000, [1, "房间干净"], True, []]
    alone = {t: call(app.base, "classify", [t], "198.51.100.30")[1][0] for t in set(good)}
    payloads = good + bad
    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(len(payloads)) as pool:
        results = list(pool.map(lambda p: call(app.base, "classify", [p], "198.51.100.31"), payloads))
    seconds = time.perf_counter() - t0
    good_ok = sum(
        1
        for t, (e, d) in zip(good, results)
        if e == "complete"
        and d[0]["label"] == alone[t]["label"]
        and all(abs(d[0]["probabilities"][k] - v) < 1e-4 for k, v in alone[t]["probabilities"].items())
    )
    bad_own = sum(
        1
        for (e, d) in results[len(good) :]
        if e == "complete" and ((isinstance(d[0], dict) and d[0].get("error")) or isinstance(d[0], list))
    )
    ok = good_ok == len(good) and bad_own == len(bad)
    return ok, f"{good_ok}/{len(good)} good answered, {bad_own}/{len(bad)} bad got their own error", seconds, {}


def case_huge(app: App, work: Path) -> tuple[bool, str, float, dict]:
    huge = "好" * 2_200_000  # 6.6 MB of UTF-8
    fns = fn_indices(app.base)
    table = {"headers": ["类型 kind", "评论 text"], "data": [["x", huge]]}
    tries = {
        "/classify string": lambda: call(app.base, "classify", [huge], "198.51.100.40"),
        "/classify list": lambda: call(app.base, "classify", [[huge]], "198.51.100.40"),
        "/compare list": lambda: call(app.base, "compare", [[huge]], "198.51.100.40"),
        "/compare table": lambda: call(app.base, "compare", [table], "198.51.100.40"),
        "single-text tab": lambda: join(app.base, fns["ui_classify"], [huge, None], "198.51.100.40"),
        "comparison tab": lambda: join(app.base, fns["ui_compare"], [table], "198.51.100.40"),
    }
    worst, outcomes, refused = 0.0, {}, 0
    for label, attempt in tries.items():
        seconds, event, answer = timed(attempt)
        worst = max(worst, seconds)
        body = text_of(answer)
        is_refusal = "too long" in body.lower() or "characters, limit" in body
        refused += is_refusal
        outcomes[label] = f"{seconds:.2f}s {event}: {body[:120]}"
    return refused == len(tries), f"{refused}/{len(tries)} refused", worst, {"outcomes": outcomes}


def case_credentials(app: App, work: Path) -> tuple[bool, str, float, dict]:
    import httpx

    t0 = time.perf_counter()
    shown = httpx.get(app.base + "/", timeout=30).text + httpx.get(app.base + "/config", timeout=30).text
    seconds = time.perf_counter() - t0
    logged = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in app.logs)
    places = {"page + /config": shown, "log": logged}
    leaks = [
        f"{where}: {what}"
        for where, text in places.items()
        for what, secret in (("password", app.password), ("token", app.token))
        if secret in text
    ]
    warned = "cannot reach the Hub" in shown
    return (
        not leaks and warned,
        "nothing leaked" if not leaks else "LEAKED: " + ", ".join(leaks),
        seconds,
        {"fallback explained on the page": warned},
    )


def case_leftovers(app: App, work: Path) -> tuple[bool, str, float, dict]:
    """An upload aborted half-way, then: does anything older than the TTL stay in the app's folders?"""
    port = int(app.base.rsplit(":", 1)[1])
    boundary = "hostile" + secrets.token_hex(4)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        head = (
            f"POST /gradio_api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
            f"boundary={boundary}\r\nContent-Length: 50000000\r\n\r\n--{boundary}\r\nContent-Disposition: "
            f'form-data; name="files"; filename="partial.csv"\r\n\r\n'
        ).encode()
        sock.sendall(head + b"a,b\n" * 250_000)  # 1 MB of the promised 50, then hang up
        time.sleep(1.0)
    wait = FILE_TTL_S * 1.5 + 5
    t0 = time.perf_counter()
    time.sleep(wait)
    now = time.time()
    roots = [work / "gradio", work / "tmp"]
    files = [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]
    stale = [p for p in files if now - p.stat().st_mtime > FILE_TTL_S * 1.2]
    return (
        not stale,
        f"{len(stale)} files older than the TTL ({FILE_TTL_S}s) left",
        time.perf_counter() - t0 - wait,
        {"files": len(files), "stale": [str(p.relative_to(work)) for p in stale[:8]]},
    )


CASES: dict[str, tuple[str, Callable[[App, Path], tuple[bool, str, float, dict]]]] = {
    "path": ("/classify_file given paths it did not upload (/etc/passwd, a .env with a token)", case_path_read),
    "sheet-bomb": (
        ".xlsx zip bomb: 1.2 MB inflating to 1.15 GB of sheet",
        case_file("bomb.xlsx", lambda p: sheet_bomb(p, 1178)),
    ),
    "strings-bomb": (
        ".xlsx shared-strings bomb: one 400 MB string",
        case_file("strings.xlsx", lambda p: shared_strings_bomb(p, 400)),
    ),
    "huge-range": (".xlsx of 1.6 KB declaring A1:XFD1048576", case_file("range.xlsx", huge_range_xlsx)),
    "wide-csv": ("CSV with one row of 1,000,000 columns", case_file("wide.csv", lambda p: wide_csv(p, 1_000_000))),
    "flood": ("3 clients resubmit /classify_file jobs, 1 floods /classify, for 15 s", case_flood),
    "poison": (
        "16 merged /classify requests, 8 hostile (123, null, lone surrogate, dict, 30k chars, ...)",
        case_poison,
    ),
    "huge": ("a 6.6 MB text on /classify (string, list), /compare (list, table) and both tabs", case_huge),
    "leftovers": ("an upload aborted half-way, then waiting out the file TTL", case_leftovers),
    "credentials": ("HF_ENDPOINT with user:password@ and HF_TOKEN: page, /config, log", case_credentials),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated subset of: " + ", ".join(CASES))
    parser.add_argument("--output", type=Path, default=RESULTS / "hostile.json")
    parser.add_argument("--keep-logs", type=Path, help="copy the app's logs into this folder")
    args = parser.parse_args()
    names = [n.strip() for n in args.cases.split(",") if n.strip()]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        print(f"error: unknown cases {', '.join(unknown)}; choose from {', '.join(CASES)}", file=sys.stderr)
        return 2
    load_start = os.getloadavg()[0]  # the machine may be shared: its load goes into the record
    idle_p50 = idle_max = 0.0
    work = Path(tempfile.mkdtemp(prefix="bench-hostile-"))
    app = App(work, password="pw" + secrets.token_hex(8), token="hf_" + secrets.token_hex(17))
    results: list[Case] = []
    for name in names:
        prepare = getattr(CASES[name][1], "prepare", None)
        if prepare is not None:
            print(f"building the {name} file...", flush=True)
            prepare(work)
    try:
        start_s = app.start()
        print(f"app up in {start_s:.1f}s at {app.base} (log {app.logs[-1]})", flush=True)
        before = call(app.base, "classify", [PROBE_TEXT], "198.51.100.251")
        t_idle = time.perf_counter()
        time.sleep(IDLE_S)  # the probe alone: the baseline its latency under attack is compared with
        _, idle_max, idle_count, _ = app.window(t_idle, time.perf_counter())
        idle = sorted(lat for t, lat, _ in app.probes if t >= t_idle)
        idle_p50 = idle[len(idle) // 2] if idle else 0.0
        print(
            f"probe alone: p50 {idle_p50 * 1000:.0f} ms, max {idle_max * 1000:.0f} ms over {idle_count}; "
            f"load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        for name in names:
            what, run = CASES[name]
            if not app.alive():
                print("  (restarting the app)", flush=True)
                app.stop()
                app.start()
            case = Case(name, what)
            print(f"- {name}: {what}", flush=True)
            t0 = time.perf_counter()
            box: dict[str, Any] = {}

            def attempt(box: dict[str, Any] = box, run: Any = run) -> None:
                try:
                    box["result"] = run(app, work)
                except Exception as exc:  # noqa: BLE001 - a case that breaks is reported, not fatal
                    box["result"] = (False, f"benchmark error: {type(exc).__name__}: {exc}"[:300], 0.0, {})

            worker = threading.Thread(target=attempt, daemon=True)
            worker.start()
            worker.join(timeout=CASE_DEADLINE_S + (FILE_TTL_S * 2 + 20 if name == "leftovers" else 20))
            if worker.is_alive():
                box["result"] = (False, "no answer within the deadline", time.perf_counter() - t0, {})
                app.process.kill() if app.process else None
            ok, outcome, seconds, detail = box["result"]
            end = time.perf_counter()
            case.outcome, case.seconds, case.detail = outcome, round(seconds, 2), detail
            rss, probe_max, probes, failures = app.window(t0, end)
            case.peak_rss_mb, case.probe_max_s, case.probes = round(rss), round(probe_max, 2), probes
            case.probe_failures = failures[:3]
            if not app.alive():
                ok, case.outcome = False, case.outcome + " (app died or was killed)"
            case.ok = (
                ok and seconds <= FLOOR_CASE_S and rss <= FLOOR_RSS_MB and probe_max <= FLOOR_PROBE_S and not failures
            )
            results.append(case)
            print(
                f"  {'ok ' if case.ok else 'FAIL'} {case.outcome} · {case.seconds:.2f}s · RSS {case.peak_rss_mb} MB "
                f"· probe max {case.probe_max_s:.2f}s over {probes}",
                flush=True,
            )
        after = call(app.base, "classify", [PROBE_TEXT], "198.51.100.251") if app.alive() else ("dead", None)
    finally:
        app.stop()
    same = before[0] == after[0] == "complete" and before[1][0]["probabilities"] == after[1][0]["probabilities"]
    log = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in app.logs)
    log_stats = {
        "refused request lines": log.count("refused "),
        "tracebacks": log.count("Traceback"),
        "lines": log.count("\n"),
    }
    peak = max((mb for _, mb in app.rss), default=0.0)
    probes = [lat for _, lat, _ in app.probes]
    print()
    print("| case | what | outcome | time to refusal / finish | app peak RSS | probe max latency | floors |")
    print("|---|---|---|---|---|---|---|")
    for c in results:
        print(
            f"| {c.name} | {c.what} | {c.outcome} | {c.seconds:.2f} s | {c.peak_rss_mb:,} MB | "
            f"{c.probe_max_s:.2f} s ({c.probes} probes) | {'met' if c.ok else '**missed**'} |"
        )
    print(
        f"\nprobe alone: p50 {idle_p50 * 1000:.0f} ms, max {idle_max * 1000:.0f} ms; under attack: max "
        f"{max(probes, default=0) * 1000:.0f} ms ({max(probes, default=0) / max(idle_max, 1e-3):.1f}x the idle max); "
        f"load average (1 min) {load_start:.1f} at start, {os.getloadavg()[0]:.1f} at the end"
    )
    print(
        f"fixed review before/after: {'same answer' if same else 'DIFFERENT'}; app peak RSS {peak:,.0f} MB; "
        f"{len(probes)} probes, max {max(probes, default=0):.2f}s; app log: {log_stats}"
    )
    record = {
        "benchmark": "bench_hostile",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "floors": {"case_s": FLOOR_CASE_S, "rss_mb": FLOOR_RSS_MB, "probe_s": FLOOR_PROBE_S},
        "cases": [asdict(c) for c in results],
        "same_answer_before_after": same,
        "peak_rss_mb": round(peak),
        "probes": len(probes),
        "probe_max_s": round(max(probes, default=0.0), 3),
        "app_log": log_stats,
        "probe_alone": {"p50_s": round(idle_p50, 3), "max_s": round(idle_max, 3)},
        "load_average_1min": {"start": round(load_start, 2), "end": round(os.getloadavg()[0], 2)},
        "all_floors_met": same and all(c.ok for c in results),
    }
    write_results(args.output, record)
    if args.keep_logs:
        args.keep_logs.mkdir(parents=True, exist_ok=True)
        for path in app.logs:
            shutil.copy(path, args.keep_logs / path.name)
    shutil.rmtree(work, ignore_errors=True)
    return 0 if record["all_floors_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
