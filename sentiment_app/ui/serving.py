"""Serving the app: a bounded queue per kind of work (admission), bounded request bodies, file purging.

:func:`launch` is what ``app.py`` calls after :func:`~sentiment_app.ui.layout.build_demo`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from .. import admission
from ..batch import FileSweeper, ResultFiles
from ..config import AppConfig
from .guard import logger, refused
from .layout import CSS, ON_LOAD_JS, THEME

# Multipart framing and form fields around an upload at the file limit (see max_body_bytes).
BODY_MARGIN_BYTES = 1 << 20


def admission_policy(config: AppConfig) -> admission.Policy:
    """Each kind's bound on requests waiting or running, from the config; a client gets half of each."""
    return admission.policy_from_limits(
        {
            admission.SINGLE: config.max_queue,
            admission.COMPARE: config.compare_queue,
            admission.BATCH: config.batch_queue,
        }
    )


def install_admission(demo: gr.Blocks, policy: admission.Policy) -> None:
    """Check every request against ``policy`` when it asks to join Gradio's queue, before it is queued.

    Gradio 6.31 bounds its queues only together (``max_size``) and offers no per-event queue size, so
    this wraps the queue's ``push``: it counts the requests of the same kind (by concurrency id)
    waiting or running, in all and from the same client, and refuses with Gradio's "queue full"
    answer (HTTP 503: the page says the app is busy, ``gradio_client`` raises ``QueueError``) and our
    one-line reason, logged once. It reads Gradio's queue state (``event_queue_per_concurrency_id``,
    ``active_jobs``); ``tests/test_app_serving.py`` fails if a Gradio upgrade moves them.
    """
    from gradio import route_utils

    queue_ = demo._queue
    original = queue_.push
    known = {admission.SINGLE, admission.COMPARE, admission.BATCH}
    pending: list[tuple[str, str]] = []  # admitted, not yet in Gradio's queue (push awaits before appending)

    def kind_of(concurrency_id: str | None) -> str:
        return concurrency_id if concurrency_id in known else admission.OTHER

    def client_of(request: Any) -> str:
        peer = getattr(getattr(request, "client", None), "host", None)
        headers = getattr(request, "headers", None) or {}
        # Every X-Forwarded-For line, in order (a proxy may add its own line instead of appending).
        getlist = getattr(headers, "getlist", None)
        forwarded = getlist("x-forwarded-for") if getlist is not None else headers.get("x-forwarded-for")
        return admission.client_key(peer, forwarded)

    def load() -> admission.Load:
        entries = list(pending)
        for event_queue in list(queue_.event_queue_per_concurrency_id.values()):
            entries += [(kind_of(e.concurrency_id), client_of(e.request)) for e in list(event_queue.queue)]
        for job in list(queue_.active_jobs):
            entries += [(kind_of(e.concurrency_id), client_of(e.request)) for e in job or []]
        return admission.count(entries)

    async def push(body: Any, request: Any, username: str | None) -> Any:
        try:
            fn = route_utils.get_fn(demo, None, body)
        except Exception:  # an unknown function: Gradio's own push answers it
            return await original(body=body, request=request, username=username)
        if fn.batch and (not isinstance(body.data, list) or len(body.data) != len(fn.inputs)):
            # A merged batch is zipped from every request's inputs: one of the wrong length would break all.
            return False, refused(fn.api_name or "batched", f"expected {len(fn.inputs)} inputs"), "error"
        entry = (kind_of(fn.concurrency_id), client_of(request))
        refusal = policy.refusal(*entry, load())
        if refusal is not None:
            logger.info("refused %s request from %s: %s", fn.api_name, entry[1], refusal)
            return False, refusal, "queue_full"
        pending.append(entry)
        try:
            return await original(body=body, request=request, username=username)
        finally:
            pending.remove(entry)

    queue_.push = push


def max_body_bytes(config: AppConfig) -> int:
    """The largest HTTP request body the app reads: an upload at the file limit plus its multipart framing."""
    return config.max_file_bytes + BODY_MARGIN_BYTES


def launch(demo: gr.Blocks, config: AppConfig, *, results: ResultFiles | None = None, **overrides: Any) -> Any:
    """Queue per kind of work (see :func:`install_admission`), then serve.

    ``results``: the folder ``build_demo`` was given for result files; Gradio may serve files from
    it, and it and Gradio's upload folder (partial uploads too) are purged by age from now on.

    ``show_error=False``: only ``gr.Error`` messages (ours, written for users) reach the page; an
    unexpected exception's text, which may hold paths or internals, stays in the log.
    """
    policy = admission_policy(config)
    # Gradio's own bound counts all kinds together; ours count each kind (waiting or running), so this
    # sum is never reached while admission works and stays as a backstop should it not.
    demo.queue(max_size=policy.total, default_concurrency_limit=config.concurrency)
    install_admission(demo, policy)
    kwargs: dict[str, Any] = dict(
        server_name=config.host,
        server_port=config.port,
        share=config.share,
        max_file_size=config.max_file_bytes,
        show_error=False,
        ssr_mode=False,
        footer_links=["api"],
        theme=THEME,
        css=CSS,
        js=ON_LOAD_JS,
        # Every request body, JSON included, is bounded before it is parsed: a 500 MB "review" is cut off
        # with HTTP 413 while it arrives instead of being read into memory; uploads fit under it.
        app_kwargs={"max_body_size": max_body_bytes(config)},
    )
    folders: list[tuple[str | Path, float, bool]] = [(get_upload_folder(), config.file_ttl, False)]
    if results is not None:
        kwargs["allowed_paths"] = [str(results.root)]
        folders.append((results.root, config.file_ttl, True))
    FileSweeper(folders, every=max(1, config.file_ttl // 10)).start()
    kwargs.update(overrides)
    if not isinstance(sys.stdout, ShareHintStream):
        sys.stdout = ShareHintStream(sys.stdout)
    return demo.launch(**kwargs)


class ShareHintStream:
    """Gradio's start log ends with "set `share=True` in `launch()`"; users of this app pass ``--share``."""

    GRADIO = "set `share=True` in `launch()`"
    OURS = "run `python app.py --share`"

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(text.replace(self.GRADIO, self.OURS))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
