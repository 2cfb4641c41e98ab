"""Serving configuration: every environment variable and default in one place.

The Space is configured by variables and secrets (environment), a local run by flags;
both end up in one frozen :class:`AppConfig`. The HF token is kept out of ``repr`` so a
logged config never shows it.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping, Sequence

QUANTIZE_CHOICES = ("none", "int8")
# torch's quantized engines that pack int8 weights on x86; the packing picks the kernels for good.
INT8_ENGINE_CHOICES = ("onednn", "x86", "fbgemm")


class ConfigError(ValueError):
    """A setting that cannot work; the message names the variable or flag and the fix."""


@dataclass(frozen=True)
class AppConfig:
    # What to serve: Hub repo id or local folder of an artifact; None = the embedded compact model.
    model: str | None = None
    # Branch, tag or commit of the Hub repo; None = main. Pin a commit for reproducible Spaces.
    revision: str | None = None
    # Overrides the base named in adapter_config.json (a mirror copy or a local folder of it).
    base_model: str | None = None
    # Label names in class-index order, comma-separated ("负面,正面"), for a model that names none itself:
    # used when neither labels.json nor the (base) model's config.json names them (not LABEL_0, LABEL_1).
    labels: str | None = None
    # Tokens per window; longer texts are split into overlapping windows, never truncated.
    max_length: int = 512
    # Windows per forward pass: 64 lets short reviews fill a large matrix product (length-sorted
    # batches pad little); the token budget below is the limit that usually binds.
    batch_size: int = 64
    # Padded tokens (windows x longest window) per forward pass; None = 2048, or less for models wider
    # than bert-base, so no activation reaches 32 MiB, where glibc's malloc hands out fresh pages on
    # every call (see sentiment_app.classifier.auto_batch_tokens).
    batch_tokens: int | None = None
    # BERT classifiers run on packed tokens (no padding rows, fused query/key/value, [CLS]-only last
    # layer): the same logits to ~1e-6, ~1.2x faster on CPU. False = the transformers forward as loaded.
    packed: bool = True
    # "int8" = dynamic int8 linear layers: ~2x faster on CPU at a small accuracy cost.
    quantize: str = "none"
    # Kernels for int8 weights: oneDNN's measured ~10% faster than fbgemm's ("x86") on a 2-core AVX2 CPU.
    int8_engine: str = "onednn"
    # Token for private repos (HF_TOKEN); never printed.
    token: str | None = field(default=None, repr=False)
    # Serve the embedded model when the configured one cannot be loaded (SENTIMENT_FALLBACK=0 to fail).
    fallback: bool = True
    # Seconds to wait for the Hub before giving up (etag and download); keeps start-up bounded offline.
    hub_timeout: float = 10.0
    # Torch intra-op threads; None = all cores the process may use.
    threads: int | None = None
    # Batch uploads larger than this are refused before they are read.
    max_file_mb: float = 50.0
    # Batch uploads with more rows than this are refused before any model call.
    max_rows: int = 100_000
    # Requests waiting in the queue before new ones get Gradio's "busy" answer.
    max_queue: int = 64
    # Model calls at once per queue group: 1 on a 2-core box, since one call already uses every core.
    concurrency: int = 1
    # Single-text requests Gradio may merge into one forward pass (dynamic batching); 1 turns it off.
    max_batch: int = 16
    # Seconds uploads and result files are kept before they are deleted; bounds the temp folder.
    file_ttl: int = 1800
    # Seconds one batch job (file upload to results) may run before it is stopped; None = sized to the
    # row limit at 36 ms a row (3,600 s for 100,000 rows), so one hostile job cannot hold the CPU for hours.
    job_timeout: float | None = None
    # MB the app may grow by during one batch job before it is stopped: the reading limits bound a
    # table to ~0.5 GB; this catches what they miss before the Space runs out of memory.
    job_memory_mb: float = 1024.0
    # Server address and port; None = Gradio's default (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT).
    host: str | None = None
    port: int | None = None
    # Ask Gradio for a public share link (local runs only; Spaces are public already).
    share: bool = False

    def __post_init__(self) -> None:
        if self.quantize not in QUANTIZE_CHOICES:
            raise ConfigError(f"quantize must be one of {', '.join(QUANTIZE_CHOICES)}, got {self.quantize!r}")
        if self.int8_engine not in INT8_ENGINE_CHOICES:
            raise ConfigError(f"int8_engine must be one of {', '.join(INT8_ENGINE_CHOICES)}, got {self.int8_engine!r}")
        if self.batch_tokens is not None and self.batch_tokens < 1:
            raise ConfigError(f"batch_tokens must be at least 1, got {self.batch_tokens}")
        for name in ("max_length", "batch_size", "max_rows", "max_queue", "concurrency", "max_batch", "file_ttl"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_length < 16:
            raise ConfigError(f"max_length must be at least 16 tokens, got {self.max_length}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be at least 1, got {self.threads}")
        if self.hub_timeout <= 0 or self.max_file_mb <= 0:
            raise ConfigError("hub_timeout and max_file_mb must be positive")
        if (self.job_timeout is not None and self.job_timeout <= 0) or self.job_memory_mb <= 0:
            raise ConfigError("job_timeout and job_memory_mb must be positive")
        if self.labels is not None:
            names = self.label_names or ()
            if len(names) < 2 or len(set(names)) != len(names) or not all(names):
                raise ConfigError(f"labels must be two or more distinct comma-separated names in class-index "
                                  f"order (SENTIMENT_LABELS=负面,正面), got {self.labels!r}")

    @property
    def label_names(self) -> tuple[str, ...] | None:
        """``labels`` split at commas (ASCII or Chinese), or None when not set."""
        if self.labels is None:
            return None
        return tuple(name.strip() for name in self.labels.replace("，", ",").split(","))

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    @property
    def job_seconds(self) -> float:
        """The batch job time limit: ``job_timeout``, else 36 ms per allowed row (at least a minute)."""
        return self.job_timeout if self.job_timeout is not None else max(60.0, self.max_rows * 0.036)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> "AppConfig":
        """Read the SENTIMENT_* variables (and HF_TOKEN); keyword overrides win over the environment."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for var, (name, kind) in ENV_VARS.items():
            raw = env.get(var)
            if raw is None or raw.strip() == "":
                continue
            values[name] = _parse(var, raw.strip(), kind)
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        return cls(**values)

    def with_overrides(self, **changes: Any) -> "AppConfig":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


# Environment variable -> (field, type). HF_ENDPOINT and HF_HUB_OFFLINE are read by huggingface_hub itself.
ENV_VARS: dict[str, tuple[str, type]] = {
    "SENTIMENT_MODEL": ("model", str),
    "SENTIMENT_MODEL_REVISION": ("revision", str),
    "SENTIMENT_BASE_MODEL": ("base_model", str),
    "SENTIMENT_LABELS": ("labels", str),
    "SENTIMENT_MAX_LENGTH": ("max_length", int),
    "SENTIMENT_BATCH_SIZE": ("batch_size", int),
    "SENTIMENT_BATCH_TOKENS": ("batch_tokens", int),
    "SENTIMENT_PACKED": ("packed", bool),
    "SENTIMENT_QUANTIZE": ("quantize", str),
    "SENTIMENT_INT8_ENGINE": ("int8_engine", str),
    "HF_TOKEN": ("token", str),
    "SENTIMENT_FALLBACK": ("fallback", bool),
    "SENTIMENT_HUB_TIMEOUT": ("hub_timeout", float),
    "SENTIMENT_THREADS": ("threads", int),
    "SENTIMENT_MAX_FILE_MB": ("max_file_mb", float),
    "SENTIMENT_MAX_ROWS": ("max_rows", int),
    "SENTIMENT_MAX_QUEUE": ("max_queue", int),
    "SENTIMENT_CONCURRENCY": ("concurrency", int),
    "SENTIMENT_MAX_BATCH": ("max_batch", int),
    "SENTIMENT_FILE_TTL": ("file_ttl", int),
    "SENTIMENT_JOB_TIMEOUT": ("job_timeout", float),
    "SENTIMENT_JOB_MEMORY_MB": ("job_memory_mb", float),
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse(var: str, raw: str, kind: type) -> Any:
    if kind is bool:
        low = raw.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ConfigError(f"{var} must be 1 or 0, got {raw!r}")
    if kind is str:
        return raw.lower() if var in ("SENTIMENT_QUANTIZE", "SENTIMENT_INT8_ENGINE") else raw
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{var} must be a number, got {raw!r}") from None


def add_serving_arguments(parser: argparse.ArgumentParser, *, fallback_flag: bool = True) -> None:
    """The flags shared by app.py and ``python -m sentiment_app predict``.

    ``fallback_flag=False`` leaves out ``--no-fallback`` for tools that never fall back (the batch CLI).
    """
    group = parser.add_argument_group("model (flags override SENTIMENT_* environment variables)")
    group.add_argument("--model", help="Hub repo id or local folder of an adapter or full model "
                       "(default: $SENTIMENT_MODEL, else the embedded compact model)")
    group.add_argument("--revision", help="branch, tag or commit of the Hub repo ($SENTIMENT_MODEL_REVISION)")
    group.add_argument("--base-model", help="base model to put the adapter on, overriding adapter_config.json "
                       "($SENTIMENT_BASE_MODEL)")
    group.add_argument("--labels", metavar="NAMES", help="label names in class-index order, comma-separated, "
                       "for a model that names none itself ($SENTIMENT_LABELS, e.g. 负面,正面)")
    group.add_argument("--quantize", choices=QUANTIZE_CHOICES, help="int8 = dynamic int8 linear layers "
                       "($SENTIMENT_QUANTIZE, default none)")
    group.add_argument("--int8-engine", choices=INT8_ENGINE_CHOICES, help="kernels for --quantize int8 "
                       "($SENTIMENT_INT8_ENGINE, default onednn)")
    group.add_argument("--max-length", type=int, help="tokens per window; longer texts use overlapping "
                       "windows ($SENTIMENT_MAX_LENGTH, default 512)")
    group.add_argument("--batch-size", type=int, help="windows per forward pass ($SENTIMENT_BATCH_SIZE, default 64)")
    group.add_argument("--batch-tokens", type=int, help="padded tokens per forward pass ($SENTIMENT_BATCH_TOKENS, "
                       "default: 2048, less for models wider than bert-base)")
    group.add_argument("--no-packed", action="store_true", help="run BERT models through the transformers forward "
                       "instead of the packed one (SENTIMENT_PACKED=0)")
    group.add_argument("--threads", type=int, help="torch threads ($SENTIMENT_THREADS, default: all cores)")
    if fallback_flag:
        group.add_argument("--no-fallback", action="store_true", help="fail instead of serving the embedded "
                           "model when --model cannot be loaded (SENTIMENT_FALLBACK=0)")


def config_from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> AppConfig:
    """Environment first, then the flags that were given."""
    overrides = {
        name: getattr(args, name, None)
        for name in ("model", "revision", "base_model", "labels", "quantize", "int8_engine", "max_length", "batch_size", "batch_tokens",
                     "threads", "host", "port", "max_rows", "max_file_mb")
    }
    if getattr(args, "no_fallback", False):
        overrides["fallback"] = False
    if getattr(args, "no_packed", False):
        overrides["packed"] = False
    if getattr(args, "share", False):
        overrides["share"] = True
    return AppConfig.from_env(environ, **overrides)


def describe(config: AppConfig) -> dict[str, Any]:
    """The config as a dict for logs and the UI, with the token reduced to whether it is set."""
    data = {f.name: getattr(config, f.name) for f in fields(config) if f.name != "token"}
    data["token"] = "set" if config.token else "not set"
    return data


__all__: Sequence[str] = ["AppConfig", "ConfigError", "ENV_VARS", "add_serving_arguments", "config_from_args",
                          "describe", "INT8_ENGINE_CHOICES", "QUANTIZE_CHOICES"]
