"""Serving configuration: every environment variable and default in one place.

The Space is configured by variables and secrets (environment), a local run by flags;
both end up in one frozen :class:`AppConfig`. Each setting is written once, as a field:
its default and why, its environment variable, its flag and the flag's help all sit in
the field (:func:`setting`), and the environment reader, the flags and :func:`describe`
are built from the fields. The HF token is kept out of ``repr`` so a logged config never
shows it.
"""

from __future__ import annotations

import argparse
import functools
import os
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import Field, dataclass, field, fields
from typing import Any

from .limits import TextLimits

QUANTIZE_CHOICES = ("none", "int8")
# torch's quantized engines that pack int8 weights on x86; the packing picks the kernels for good.
INT8_ENGINE_CHOICES = ("onednn", "x86", "fbgemm")
DEVICE_CHOICES = ("auto", "cpu", "cuda")

# Flag groups: the model flags every serving tool has, app.py's server flags, the batch CLI's limits.
MODEL_FLAGS = "model"
SERVER_FLAGS = "server"
LIMIT_FLAGS = "limits"
MODEL_GROUP_TITLE = "model (flags override SENTIMENT_* environment variables)"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigError(ValueError):
    """A setting that cannot work; the message names the variable or flag and the fix."""


def setting(
    default: Any,
    *,
    env: str | None = None,
    flag: str | None = None,
    help: str | None = None,
    group: str = MODEL_FLAGS,
    metavar: str | None = None,
    choices: Sequence[str] | None = None,
    secret: bool = False,
) -> Any:
    """An :class:`AppConfig` field with where it can be set from.

    ``env``: the environment variable that sets it. ``flag``: its command-line flag (for a bool,
    the flag that turns the default around, e.g. ``--no-packed``), shown with ``help`` (``{env}``
    in it becomes the variable's name) in the flag group ``group``. ``choices`` limit a string
    (the environment's value is lower-cased first). ``secret`` keeps it out of ``repr`` and logs.
    """
    metadata = {
        "env": env,
        "flag": flag,
        "help": help,
        "group": group,
        "metavar": metavar,
        "choices": tuple(choices) if choices else None,
        "secret": secret,
    }
    return field(default=default, repr=not secret, metadata=metadata)


@dataclass(frozen=True)
class AppConfig:
    # What to serve: Hub repo id or local folder of an artifact; None = the embedded compact model.
    model: str | None = setting(
        None,
        env="SENTIMENT_MODEL",
        flag="--model",
        help="Hub repo id or local folder of an adapter or full model (default: ${env}, else the embedded "
        "compact model)",
    )
    # Branch, tag or commit of the Hub repo; None = main. Pin a commit for reproducible Spaces.
    revision: str | None = setting(
        None, env="SENTIMENT_MODEL_REVISION", flag="--revision", help="branch, tag or commit of the Hub repo (${env})"
    )
    # Overrides the base named in adapter_config.json (a mirror copy or a local folder of it).
    base_model: str | None = setting(
        None,
        env="SENTIMENT_BASE_MODEL",
        flag="--base-model",
        help="base model to put the adapter on, overriding adapter_config.json (${env})",
    )
    # Label names in class-index order, comma-separated ("负面,正面"), for a model that names none itself:
    # used when neither labels.json nor the (base) model's config.json names them (not LABEL_0, LABEL_1).
    labels: str | None = setting(
        None,
        env="SENTIMENT_LABELS",
        flag="--labels",
        metavar="NAMES",
        help="label names in class-index order, comma-separated, for a model that names none itself "
        "(${env}, e.g. 负面,正面)",
    )
    # "int8" = dynamic int8 linear layers: ~2x faster on CPU at a small accuracy cost.
    quantize: str = setting(
        "none",
        env="SENTIMENT_QUANTIZE",
        flag="--quantize",
        choices=QUANTIZE_CHOICES,
        help="int8 = dynamic int8 linear layers (${env}, default none)",
    )
    # Kernels for int8 weights: oneDNN's measured ~10% faster than fbgemm's ("x86") on a 2-core AVX2 CPU.
    int8_engine: str = setting(
        "onednn",
        env="SENTIMENT_INT8_ENGINE",
        flag="--int8-engine",
        choices=INT8_ENGINE_CHOICES,
        help="kernels for --quantize int8 (${env}, default onednn)",
    )
    # Tokens per window; longer texts are split into overlapping windows, never truncated.
    max_length: int = setting(
        512,
        env="SENTIMENT_MAX_LENGTH",
        flag="--max-length",
        help="tokens per window; longer texts use overlapping windows (${env}, default 512)",
    )
    # Windows per forward pass: 64 lets short reviews fill a large matrix product (length-sorted
    # batches pad little); the token budget below is the limit that usually binds.
    batch_size: int = setting(
        64, env="SENTIMENT_BATCH_SIZE", flag="--batch-size", help="windows per forward pass (${env}, default 64)"
    )
    # Padded tokens (windows x longest window) per forward pass; None = 2048, or less for models wider
    # than bert-base, so no activation reaches 32 MiB, where glibc's malloc hands out fresh pages on
    # every call (see sentiment_app.classifier.auto_batch_tokens).
    batch_tokens: int | None = setting(
        None,
        env="SENTIMENT_BATCH_TOKENS",
        flag="--batch-tokens",
        help="padded tokens per forward pass (${env}, default: 2048, less for models wider than bert-base)",
    )
    # BERT classifiers run on packed tokens (no padding rows, fused query/key/value, [CLS]-only last
    # layer): the same logits to ~1e-6, ~1.2x faster on CPU. False = the transformers forward as loaded.
    packed: bool = setting(
        True,
        env="SENTIMENT_PACKED",
        flag="--no-packed",
        help="run BERT models through the transformers forward instead of the packed one ({env}=0)",
    )
    # auto = a GPU when there is one (a GPU Space, ZeroGPU): transformers in fp16, length-sorted batches;
    # else the CPU fast paths above. cpu keeps a GPU machine on the CPU path.
    device: str = setting(
        "auto",
        env="SENTIMENT_DEVICE",
        flag="--device",
        choices=DEVICE_CHOICES,
        help="auto (a GPU when there is one, ZeroGPU included), cpu or cuda (${env}, default auto)",
    )
    # Torch intra-op threads; None = all cores the process may use.
    threads: int | None = setting(
        None, env="SENTIMENT_THREADS", flag="--threads", help="torch threads (${env}, default: all cores)"
    )
    # Serve the embedded model when the configured one cannot be loaded (SENTIMENT_FALLBACK=0 to fail).
    fallback: bool = setting(
        True,
        env="SENTIMENT_FALLBACK",
        flag="--no-fallback",
        help="fail instead of serving the embedded model when --model cannot be loaded ({env}=0)",
    )
    # Token for private repos (HF_TOKEN); never printed.
    token: str | None = setting(None, env="HF_TOKEN", secret=True)
    # Seconds to wait for the Hub before giving up (etag and download); keeps start-up bounded offline.
    hub_timeout: float = setting(10.0, env="SENTIMENT_HUB_TIMEOUT")
    # Batch uploads with more rows than this are refused before any model call.
    max_rows: int = setting(
        100_000,
        env="SENTIMENT_MAX_ROWS",
        flag="--max-rows",
        group=LIMIT_FLAGS,
        metavar="N",
        help="refuse files with more rows (${env}, default 100000)",
    )
    # Batch uploads larger than this are refused before they are read.
    max_file_mb: float = setting(
        50.0,
        env="SENTIMENT_MAX_FILE_MB",
        flag="--max-file-mb",
        group=LIMIT_FLAGS,
        metavar="MB",
        help="refuse larger files (${env}, default 50)",
    )
    # Single-text requests (tab and /classify) waiting or running before new ones are told "busy, retry".
    # Each kind of work has its own bound, so a flood of one never fills another's (sentiment_app.admission).
    max_queue: int = setting(64, env="SENTIMENT_MAX_QUEUE")
    # Comparison requests (tab and /compare) waiting or running: each is up to max_call_texts texts.
    compare_queue: int = setting(16, env="SENTIMENT_COMPARE_QUEUE")
    # Batch jobs (tab and /classify_file) waiting or running: each may take minutes.
    batch_queue: int = setting(8, env="SENTIMENT_BATCH_QUEUE")
    # Single-text model calls at once: 1 on a 2-core box, since one call already uses every core.
    concurrency: int = setting(1, env="SENTIMENT_CONCURRENCY")
    # Comparison and batch calls at once, each kind on its own, beside the single texts.
    compare_concurrency: int = setting(1, env="SENTIMENT_COMPARE_CONCURRENCY")
    batch_concurrency: int = setting(1, env="SENTIMENT_BATCH_CONCURRENCY")
    # Characters in one text, on every endpoint: ~50 windows of 512 tokens; the batch tab takes long cells.
    max_text_chars: int = setting(20_000, env="SENTIMENT_MAX_TEXT_CHARS")
    # Texts in one call (/classify given a list, /compare, the comparison tab); more go to the batch tab.
    max_call_texts: int = setting(50, env="SENTIMENT_MAX_CALL_TEXTS")
    # Characters in one call, all its texts together: a few seconds of CPU at most.
    max_call_chars: int = setting(100_000, env="SENTIMENT_MAX_CALL_CHARS")
    # Single-text requests Gradio may merge into one forward pass (dynamic batching); 1 turns it off.
    max_batch: int = setting(16, env="SENTIMENT_MAX_BATCH")
    # Seconds uploads and result files are kept before they are deleted; bounds the temp folder.
    file_ttl: int = setting(1800, env="SENTIMENT_FILE_TTL")
    # Seconds one batch job (file upload to results) may run before it is stopped; None = sized to the
    # row limit at 36 ms a row (3,600 s for 100,000 rows), so one hostile job cannot hold the CPU for hours.
    job_timeout: float | None = setting(None, env="SENTIMENT_JOB_TIMEOUT")
    # MB the app may grow by during one batch job before it is stopped: the reading limits bound a
    # table to ~0.5 GB; this catches what they miss before the Space runs out of memory.
    job_memory_mb: float = setting(1024.0, env="SENTIMENT_JOB_MEMORY_MB")
    # Server address and port; None = Gradio's default (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT).
    host: str | None = setting(
        None,
        flag="--host",
        group=SERVER_FLAGS,
        help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1; 0.0.0.0 to accept other machines)",
    )
    port: int | None = setting(
        None, flag="--port", group=SERVER_FLAGS, help="port (default: $GRADIO_SERVER_PORT or 7860)"
    )
    # Ask Gradio for a public share link (local runs only; Spaces are public already).
    share: bool = setting(
        False, flag="--share", group=SERVER_FLAGS, help="also open a temporary public gradio.live link"
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            allowed = f.metadata.get("choices")
            if allowed and getattr(self, f.name) not in allowed:
                raise ConfigError(f"{f.name} must be one of {', '.join(allowed)}, got {getattr(self, f.name)!r}")
        if self.batch_tokens is not None and self.batch_tokens < 1:
            raise ConfigError(f"batch_tokens must be at least 1, got {self.batch_tokens}")
        for name in (
            "max_length",
            "batch_size",
            "max_rows",
            "max_queue",
            "compare_queue",
            "batch_queue",
            "concurrency",
            "compare_concurrency",
            "batch_concurrency",
            "max_batch",
            "file_ttl",
            "max_text_chars",
            "max_call_texts",
            "max_call_chars",
        ):
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
                raise ConfigError(
                    f"labels must be two or more distinct comma-separated names in class-index "
                    f"order (SENTIMENT_LABELS=负面,正面), got {self.labels!r}"
                )

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

    @property
    def text_limits(self) -> TextLimits:
        """The per-text and per-call limits every text-taking endpoint enforces."""
        return TextLimits(self.max_text_chars, self.max_call_texts, self.max_call_chars)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> AppConfig:
        """Read the SENTIMENT_* variables (and HF_TOKEN); keyword overrides win over the environment."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            var = f.metadata.get("env")
            raw = env.get(var) if var else None
            if raw is None or raw.strip() == "":
                continue
            values[f.name] = _parse(f, var, raw.strip())
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        return cls(**values)


def value_type(f: Field) -> type:
    """The type a field holds, ``None`` aside (``int | None`` -> int)."""
    hint = _hints()[f.name]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    return hint


@functools.cache
def _hints() -> dict[str, Any]:
    return typing.get_type_hints(AppConfig)


def _parse(f: Field, var: str, raw: str) -> Any:
    kind = value_type(f)
    if kind is bool:
        low = raw.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ConfigError(f"{var} must be 1 or 0, got {raw!r}")
    if kind is str:
        return raw.lower() if f.metadata.get("choices") else raw
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{var} must be a number, got {raw!r}") from None


# Environment variable -> (field, type), for docs and tests. HF_ENDPOINT and HF_HUB_OFFLINE are read by
# huggingface_hub itself.
ENV_VARS: dict[str, tuple[str, type]] = {
    f.metadata["env"]: (f.name, value_type(f)) for f in fields(AppConfig) if f.metadata.get("env")
}


def add_setting_arguments(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, group: str, *, leave_out: Sequence[str] = ()
) -> None:
    """Add the flags of one group of settings (:data:`MODEL_FLAGS`, :data:`SERVER_FLAGS`, :data:`LIMIT_FLAGS`).

    Every flag defaults to None (not given), so :func:`config_from_args` lets the environment decide.
    """
    for f in fields(AppConfig):
        meta = f.metadata
        if not meta.get("flag") or meta["group"] != group or f.name in leave_out:
            continue
        text = (meta["help"] or "").replace("{env}", meta["env"] or "")
        kind = value_type(f)
        if kind is bool:  # the flag turns the default around
            parser.add_argument(
                meta["flag"], dest=f.name, action="store_const", const=not f.default, default=None, help=text
            )
        else:
            parser.add_argument(
                meta["flag"],
                dest=f.name,
                type=None if kind is str else kind,
                choices=meta["choices"],
                metavar=meta["metavar"],
                default=None,
                help=text,
            )


def add_serving_arguments(parser: argparse.ArgumentParser, *, fallback_flag: bool = True) -> None:
    """The flags shared by app.py and ``python -m sentiment_app predict``.

    ``fallback_flag=False`` leaves out ``--no-fallback`` for tools that never fall back (the batch CLI).
    """
    group = parser.add_argument_group(MODEL_GROUP_TITLE)
    add_setting_arguments(group, MODEL_FLAGS, leave_out=() if fallback_flag else ("fallback",))


def config_from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> AppConfig:
    """Environment first, then the flags that were given."""
    overrides = {f.name: getattr(args, f.name, None) for f in fields(AppConfig) if f.metadata.get("flag")}
    return AppConfig.from_env(environ, **overrides)


def describe(config: AppConfig) -> dict[str, Any]:
    """The config as a dict for logs and the UI, with secrets reduced to whether they are set."""
    return {
        f.name: ("set" if getattr(config, f.name) else "not set")
        if f.metadata.get("secret")
        else getattr(config, f.name)
        for f in fields(config)
    }


__all__: Sequence[str] = [
    "AppConfig",
    "ConfigError",
    "ENV_VARS",
    "LIMIT_FLAGS",
    "MODEL_FLAGS",
    "SERVER_FLAGS",
    "add_serving_arguments",
    "add_setting_arguments",
    "config_from_args",
    "describe",
    "setting",
    "INT8_ENGINE_CHOICES",
    "QUANTIZE_CHOICES",
]
