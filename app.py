"""The Space entry point: configuration -> models -> Gradio app.

    python app.py [--model ID_OR_PATH] [--revision REV] [--quantize int8] [--host H] [--port P] [--share]

With nothing configured it serves the embedded compact model; on a Space, set the variable
SENTIMENT_MODEL (and the secret HF_TOKEN for a private repo) instead of flags.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# ZeroGPU: the `spaces` package must be imported before anything initialises CUDA (it says so otherwise);
# elsewhere it is absent, or effect-free.
with contextlib.suppress(ImportError):
    import spaces  # noqa: F401
# Explanation models are built from the served weights in the background this long after the server
# answers: not in the way of the first answers, done before most visitors ask for an explanation.
EXPLAIN_WARMUP_AFTER_S = 5.0


def main(argv: list[str] | None = None) -> int:
    from sentiment_app.config import (
        SERVER_FLAGS,
        ConfigError,
        add_serving_arguments,
        add_setting_arguments,
        config_from_args,
        describe,
    )

    parser = argparse.ArgumentParser(description="Serve the Chinese review sentiment app (Gradio).")
    add_serving_arguments(parser)
    add_setting_arguments(parser.add_argument_group("server"), SERVER_FLAGS)
    args = parser.parse_args(argv)
    from sentiment_app.errors import redact_process_output

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Everything printed or logged from here on (Gradio's own lines and tracebacks included) has the
    # token, credentials in URLs (HF_ENDPOINT=https://user:password@mirror) and token-like values masked.
    redact_process_output(os.environ.get("HF_TOKEN"))
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise in a Space log
    log = logging.getLogger("app")

    from sentiment_app.model.loading import ModelLoadError, load_serving_classifiers

    try:
        config = config_from_args(args)
        log.info("configuration: %s", describe(config))
        classifiers = load_serving_classifiers(config)
    except (ConfigError, ModelLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for clf in classifiers:
        log.info(
            "serving %s (%s, %s) on %s%s",
            clf.info.name,
            clf.info.source,
            clf.info.kind,
            clf.info.device,
            f" - warning: {clf.info.warning}" if clf.info.warning else "",
        )

    from sentiment_app.batch import ResultFiles
    from sentiment_app.model.warmup import build_explain_models_later
    from sentiment_app.ui import build_demo, launch

    build_explain_models_later(classifiers, EXPLAIN_WARMUP_AFTER_S, ready=lambda: _listening(config.host, config.port))

    results = ResultFiles(max_age=config.file_ttl)  # one private folder (mkdtemp, 0700) for this process
    launch(build_demo(classifiers, config, results=results), config, results=results)
    return 0


def _listening(host: str | None, port: int | None) -> bool:
    """Whether the server accepts connections yet (Gradio's defaults where the settings leave it)."""
    import socket

    host = "127.0.0.1" if host in (None, "", "0.0.0.0") else host
    port = port or int(os.environ.get("GRADIO_SERVER_PORT") or 7860)
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


if __name__ == "__main__":
    sys.exit(main())
