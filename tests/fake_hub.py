"""A local stand-in for the Hugging Face Hub's read API, so the real download path runs offline.

It serves folders as model repos on 127.0.0.1: repo info, the file tree and file downloads,
the calls ``huggingface_hub.snapshot_download`` makes. It can also answer 401/404 like the
Hub does, or accept connections and never answer (a network that drops packets).
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, Path] = {}
        self.private: dict[str, str] = {}  # repo -> the only token that may read it
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, authorization)
        self.url = ""

    def add_repo(self, repo_id: str, folder: Path, *, token: str | None = None) -> None:
        self.repos[repo_id] = Path(folder)
        if token:
            self.private[repo_id] = token

    def commit(self, repo_id: str) -> str:
        digest = hashlib.sha1()
        for path in sorted(self.repos[repo_id].rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(self.repos[repo_id])).encode())
                digest.update(path.read_bytes())
        return digest.hexdigest()


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def _send(
            self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, head: bool = False
        ) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _json(self, status: int, data, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})})

        def _repo(self, repo_id: str) -> Path | None:
            auth = self.headers.get("authorization")
            hub.requests.append((self.command, self.path, auth))
            if repo_id not in hub.repos:
                self._json(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                return None
            wanted = hub.private.get(repo_id)
            if wanted and auth != f"Bearer {wanted}":
                self._json(401, {"error": "Invalid credentials"}, {"X-Error-Code": "RepoNotFound"})
                return None
            return hub.repos[repo_id]

        def _files(self, folder: Path) -> list[Path]:
            return sorted(p for p in folder.rglob("*") if p.is_file())

        def do_HEAD(self) -> None:
            self._serve_file(head=True)

        def do_GET(self) -> None:
            path = unquote(urlparse(self.path).path)
            if path.startswith("/api/models/"):
                rest = path[len("/api/models/") :]
                if "/revision/" in rest:
                    repo_id, revision = rest.split("/revision/", 1)
                    folder = self._repo(repo_id)
                    if folder is None:
                        return
                    if revision not in ("main", hub.commit(repo_id)):
                        self._json(404, {"error": "Invalid rev id"}, {"X-Error-Code": "RevisionNotFound"})
                        return
                    siblings = [{"rfilename": str(p.relative_to(folder))} for p in self._files(folder)]
                    self._json(
                        200,
                        {
                            "id": repo_id,
                            "modelId": repo_id,
                            "sha": hub.commit(repo_id),
                            "siblings": siblings,
                            "private": repo_id in hub.private,
                        },
                    )
                    return
                if "/tree/" in rest:
                    repo_id, _ = rest.split("/tree/", 1)
                    folder = self._repo(repo_id)
                    if folder is None:
                        return
                    entries = [
                        {
                            "type": "file",
                            "path": str(p.relative_to(folder)),
                            "size": p.stat().st_size,
                            "oid": hashlib.sha1(p.read_bytes()).hexdigest(),
                        }
                        for p in self._files(folder)
                    ]
                    self._json(200, entries)
                    return
            self._serve_file(head=False)

        def _serve_file(self, head: bool) -> None:
            path = unquote(urlparse(self.path).path).lstrip("/")
            if "/resolve/" not in path:
                hub.requests.append((self.command, self.path, self.headers.get("authorization")))
                self._json(404, {"error": "not found"})
                return
            repo_id, rest = path.split("/resolve/", 1)
            folder = self._repo(repo_id)
            if folder is None:
                return
            _, filename = rest.split("/", 1)
            target = folder / filename
            if not target.is_file():
                self._json(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
                return
            body = target.read_bytes()
            etag = hashlib.sha1(body).hexdigest()
            self._send(
                200,
                body,
                {"X-Repo-Commit": hub.commit(repo_id), "ETag": f'"{etag}"', "Content-Type": "application/octet-stream"},
                head=head,
            )

    return Handler


@contextmanager
def serve(hub: FakeHub) -> Iterator[FakeHub]:
    """Run ``hub`` on a free local port for the duration of the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def silent_endpoint() -> Iterator[str]:
    """A port that accepts connections and never answers: what a network dropping packets looks like."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        sock.close()


def refused_endpoint() -> str:
    """A local address where nothing listens: connections are refused at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"
