"""Fail fast, and say how to go on, when a run needs the Hub and the Hub cannot be reached.

huggingface_hub retries a failed connection five times with 1-8 s waits: a run without network used
to wait ~25 s before its error. One request with a short timeout answers the question first. When the
Hub is unreachable but everything the run needs is already in the local cache, the run goes on in
offline mode (no retries); otherwise it stops with one line naming the ways on.
"""

from __future__ import annotations

import os
from pathlib import Path

from .config import TrainConfig
from .errors import UserError, first_line

# A healthy Hub answers in well under a second; 3 s leaves room for a slow link without the 25 s of retries.
PROBE_TIMEOUT_S = 3.0


def hub_needs(config: TrainConfig) -> dict[str, str]:
    """What this run would download: {"model"|"dataset": repo id}. Local folders and scratch need nothing.

    Decided without importing torch (seconds), so an offline run fails before paying for it."""
    from sentiment_app.model.sources import is_repo_id

    needs = {}
    base = config.base_model
    if not config.is_scratch and not Path(base).expanduser().is_dir() and is_repo_id(base):
        needs["model"] = base
    if config.dataset and not Path(config.dataset).exists():
        needs["dataset"] = config.dataset
    return needs


def is_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def hub_endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT.rstrip("/")


def unreachable_reason(endpoint: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when ``endpoint`` answers an HTTP request (any status) within ``timeout``; else why not."""
    import httpx2  # huggingface_hub's HTTP client (proxies from the environment apply as for downloads)

    try:
        with httpx2.Client(timeout=timeout, follow_redirects=False) as client:
            client.head(endpoint)
    except Exception as exc:  # DNS, refused, timeout, TLS: all mean the downloads would fail too
        return first_line(exc)[:120] or type(exc).__name__
    return None


def is_cached(kind: str, repo_id: str) -> bool:
    """True when the local Hub cache holds a snapshot of ``repo_id`` (a model or a dataset)."""
    from huggingface_hub import constants

    folder = Path(constants.HF_HUB_CACHE) / f"{kind}s--{repo_id.replace('/', '--')}" / "snapshots"
    return folder.is_dir() and any(folder.iterdir())


def go_offline() -> None:
    """Switch this process to the Hub's offline mode (cache only, no retries), as HF_HUB_OFFLINE=1 would."""
    from huggingface_hub import constants

    os.environ["HF_HUB_OFFLINE"] = "1"
    constants.HF_HUB_OFFLINE = True
    try:
        import datasets.config
    except ImportError:
        return
    datasets.config.HF_HUB_OFFLINE = True


def ways_on(needs: dict[str, str]) -> str:
    """The ways to run without the Hub, for what this run needs from it."""
    ways = []
    if "model" in needs:
        base = needs["model"]
        ways.append(
            f"a local copy of the base (on a machine with access: `hf download {base} --local-dir "
            f"models/{base.split('/')[-1]}`, then --base-model models/{base.split('/')[-1]})"
        )
    if "dataset" in needs:
        ways.append("local data (--train-file F --validation-file F)")
    ways.append("HF_ENDPOINT=URL for a mirror")
    ways.append("HF_HUB_OFFLINE=1 to use what is cached")
    if "model" in needs:
        ways.append("--base-model scratch --full-finetune for a model trained from scratch")
    return ", ".join(ways[:-1]) + ", or " + ways[-1]


def ensure_hub(config: TrainConfig) -> None:
    """Return at once when the run needs no Hub or the Hub answers; go offline when the cache has it all;
    otherwise raise one :class:`UserError` line with the ways on."""
    needs = hub_needs(config)
    if not needs or is_offline():
        return
    endpoint = hub_endpoint()
    reason = unreachable_reason(endpoint)
    if reason is None:
        return
    missing = {kind: repo for kind, repo in needs.items() if not is_cached(kind, repo)}
    if not missing:
        go_offline()
        print(f"note: the Hub at {endpoint} cannot be reached ({reason}); using the cached {', '.join(needs.values())}")
        return
    what = " and ".join(f"{kind} {repo}" for kind, repo in missing.items())
    raise UserError(
        f"cannot reach the Hub at {endpoint} ({reason}) to download {what}, which is not cached here. "
        f"Ways on: {ways_on(missing)}"
    )
