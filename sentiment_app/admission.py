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


def client_key(peer: str | None, forwarded_for: str | Iterable[str] | None) -> str:
    """Who is asking, for per-client shares: the connecting address, or behind a proxy on a private
    or loopback address (a Space's), the rightmost public (global) address in ``X-Forwarded-For``.

    Each proxy appends the address it saw, so reading from the right, the first public hop is the one
    the outermost trusted proxy saw: the visitor. Hops to its left are whatever the client wrote (it
    cannot pose as many by sending the header itself); private and loopback hops to its right are
    the proxy chain's own (a chain that appends twice would otherwise make every visitor one client).
    ``forwarded_for`` may be several header lines (a list), joined in order. Directly connected
    clients are their address.
    """
    host = (peer or "").strip() or "unknown"
    if not forwarded_for or not _is_private(host):
        return host
    lines = [forwarded_for] if isinstance(forwarded_for, str) else list(forwarded_for)
    hops = [_hop_address(hop) for line in lines for hop in str(line).split(",")]
    addresses = [hop for hop in hops if hop is not None]
    for address in reversed(addresses):
        if address.is_global:  # not private, loopback, link-local, shared (100.64/10) or reserved
            return str(address)
    # Only private hops (a visitor inside the same network): the nearest one the proxy saw.
    return str(addresses[-1]) if addresses else host


def _hop_address(hop: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address in one ``X-Forwarded-For`` hop: ``1.2.3.4``, ``1.2.3.4:5678``, ``2001:db8::1``,
    ``[2001:db8::1]:443``, ``"[2001:db8::1]"``; None for anything else (``unknown``, an obfuscated id)."""
    text = hop.strip().strip('"').strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:  # IPv4 with a port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


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
