"""Admission control per kind of work: single texts, comparisons and batch jobs never starve each other.

Gradio 6.31 runs one queue per ``concurrency_id`` but bounds them only together
(``Blocks.queue(max_size=...)`` counts every waiting event), so a loop resubmitting slow batch
jobs would fill the shared limit and every single-text request would get "Queue is full". The
app therefore decides admission itself, when a request asks to join the queue: each kind has
its own bound on requests waiting or running, and one client may hold at most a share of it.
This module is the policy, pure and tested without Gradio; ``sentiment_app.ui`` counts what
Gradio's queue holds and asks :func:`refusal` before letting a request in.
"""

from __future__ import annotations

import ipaddress
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

SINGLE, COMPARE, BATCH, OTHER = "single", "compare", "batch", "other"
KIND_NAMES = {
    SINGLE: ("单条分析", "single-text"),
    COMPARE: ("对比", "comparison"),
    BATCH: ("批量", "batch"),
    OTHER: ("其他", "other"),
}
# One client (address) may hold at most this share of a kind's places: a second client always finds room.
CLIENT_SHARE = 0.5
# Requests of kinds the app did not name (file previews, say) share this bound.
OTHER_LIMIT = 16


@dataclass(frozen=True)
class KindLimit:
    """How many requests of one kind may be waiting or running at once, in all and per client."""

    total: int
    per_client: int

    @classmethod
    def sharing(cls, total: int, share: float = CLIENT_SHARE) -> KindLimit:
        return cls(total=total, per_client=max(1, math.ceil(total * share)))


@dataclass
class Load:
    """What is waiting or running now, by kind and by (kind, client)."""

    by_kind: Counter = field(default_factory=Counter)
    by_client: Counter = field(default_factory=Counter)

    def add(self, kind: str, client: str, n: int = 1) -> None:
        self.by_kind[kind] += n
        self.by_client[(kind, client)] += n


@dataclass(frozen=True)
class Policy:
    """The limits per kind; a kind not listed falls under ``OTHER``."""

    limits: Mapping[str, KindLimit]

    def limit(self, kind: str) -> KindLimit:
        return self.limits.get(kind) or self.limits.get(OTHER) or KindLimit.sharing(OTHER_LIMIT)

    @property
    def total(self) -> int:
        """Every kind's bound added up: the most Gradio's own (global) queue can ever hold."""
        kinds = dict(self.limits)
        kinds.setdefault(OTHER, KindLimit.sharing(OTHER_LIMIT))
        return sum(limit.total for limit in kinds.values())

    def refusal(self, kind: str, client: str, load: Load) -> str | None:
        """The one-line "busy, retry" message when a new request of ``kind`` from ``client`` must wait
        outside, else None."""
        limit = self.limit(kind)
        zh, en = KIND_NAMES.get(kind, KIND_NAMES[OTHER])
        if load.by_client[(kind, client)] >= limit.per_client:
            return (
                f"⏳ 您已有 {load.by_client[(kind, client)]} 个{zh}请求在排队或运行，请等它们完成再提交。"
                f" / Busy: you already have {load.by_client[(kind, client)]} {en} requests queued or running; "
                f"retry when one has finished."
            )
        if load.by_kind[kind] >= limit.total:
            return (
                f"⏳ 服务繁忙：{zh}队列已满（{limit.total} 个），请稍后再试。"
                f" / Busy: the {en} queue is full ({limit.total} requests); retry in a moment."
            )
        return None


def client_key(peer: str | None, forwarded_for: str | None) -> str:
    """Who is asking, for per-client shares: the connecting address, or behind a proxy on a private
    or loopback address (a Space's), the last address that proxy appended to ``X-Forwarded-For``.

    The last entry is the one the proxy saw; earlier ones are whatever the client wrote, so a client
    cannot pose as many by sending the header itself. Directly connected clients are their address.
    """
    host = (peer or "").strip() or "unknown"
    if forwarded_for and _is_private(host):
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    return host


def _is_private(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host in ("localhost", "testclient")
    return address.is_private or address.is_loopback


def policy_from_limits(totals: Mapping[str, int], share: float = CLIENT_SHARE) -> Policy:
    """A :class:`Policy` giving each kind ``totals[kind]`` places and each client ``share`` of them."""
    limits = {kind: KindLimit.sharing(total, share) for kind, total in totals.items()}
    limits.setdefault(OTHER, KindLimit.sharing(OTHER_LIMIT, share))
    return Policy(limits)


def count(entries: Iterable[tuple[str, str]]) -> Load:
    """A :class:`Load` from (kind, client) pairs, one per waiting or running request."""
    load = Load()
    for kind, client in entries:
        load.add(kind, client)
    return load


__all__ = [
    "BATCH",
    "CLIENT_SHARE",
    "COMPARE",
    "KindLimit",
    "Load",
    "OTHER",
    "Policy",
    "SINGLE",
    "client_key",
    "count",
    "policy_from_limits",
]
