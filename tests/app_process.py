"""Running ``python app.py`` in a subprocess for tests: a clean environment, a free loopback port,
waiting until it answers, and a clean stop."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_env(**settings: str) -> dict[str, str]:
    """This process's environment without app settings, tokens or offline mode, plus ``settings``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SENTIMENT_", "GRADIO_")) and k not in ("HF_TOKEN", "HF_HUB_OFFLINE")
    }
    env.update(GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1", **settings)
    return env


def start_app(log: Path, env: dict[str, str], *flags: str) -> tuple[subprocess.Popen, str]:
    """``app.py`` on a free loopback port, its output in ``log``; (process, its URL)."""
    port = free_port()
    with open(log, "w", encoding="utf-8") as handle:
        process = subprocess.Popen(
            [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port), *flags],
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return process, f"http://127.0.0.1:{port}/"


def wait_until_up(url: str, process: subprocess.Popen, log: Path, limit_s: float) -> str:
    """The body at ``url`` once the app answers it; a hang guard, not a timing."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"the app exited with code {process.returncode} before serving; its log ({log}):\n{tail(log)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return response.read().decode("utf-8")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the app did not answer at {url} within {limit_s:.0f}s; log:\n{tail(log)}")


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(process: subprocess.Popen) -> None:
    """Terminate, then kill what does not exit within 20 s."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def call_api(
    url: str, api_name: str, data: list, *, headers: dict[str, str] | None = None, timeout: float = 120.0
) -> tuple[str, object]:
    """One call of a named endpoint over Gradio's plain HTTP API (``/gradio_api/call/NAME``), with a JSON
    body written here (``ensure_ascii``), so any payload can be sent, lone surrogates included.

    Returns ("complete", output data), ("error", Gradio's error message or None) or ("refused",
    (HTTP status, detail)) when the request was not let into the queue.
    """
    import json

    import httpx

    base = url.rstrip("/")
    body = json.dumps({"data": data}, ensure_ascii=True).encode("ascii")
    answer = httpx.post(
        f"{base}/gradio_api/call/{api_name}",
        content=body,
        timeout=timeout,
        headers={"content-type": "application/json", **(headers or {})},
    )
    if answer.status_code != 200:
        try:
            detail = answer.json().get("detail")
        except ValueError:
            detail = answer.text
        return "refused", (answer.status_code, detail)
    event_id = answer.json()["event_id"]
    event = None
    with httpx.stream(
        "GET", f"{base}/gradio_api/call/{api_name}/{event_id}", timeout=timeout, headers=headers or {}
    ) as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                return event, json.loads(line.split(":", 1)[1])
    return "error", None
