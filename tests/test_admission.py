"""sentiment_app.admission: each kind of work has its own bound, each client a share of it."""

from __future__ import annotations

from sentiment_app.admission import (
    BATCH,
    OTHER,
    SINGLE,
    KindLimit,
    client_key,
    count,
    policy_from_limits,
)

POLICY = policy_from_limits({SINGLE: 6, BATCH: 4})


def test_a_full_kind_refuses_only_its_own_kind():
    load = count([(BATCH, f"client{i}") for i in range(4)])
    refusal = POLICY.refusal(BATCH, "newcomer", load)
    assert refusal is not None and "batch queue is full (4 requests)" in refusal and "\n" not in refusal
    assert POLICY.refusal(SINGLE, "newcomer", load) is None
    assert POLICY.refusal(SINGLE, "client0", load) is None


def test_one_client_gets_half_of_a_kind():
    load = count([(BATCH, "greedy"), (BATCH, "greedy")])
    refusal = POLICY.refusal(BATCH, "greedy", load)
    assert refusal is not None and "you already have 2 batch requests" in refusal
    assert POLICY.refusal(BATCH, "other", load) is None


def test_kinds_not_named_share_the_other_bound():
    assert POLICY.limit("preview-7") == POLICY.limit(OTHER)
    assert POLICY.total == 6 + 4 + POLICY.limit(OTHER).total


def test_share_is_at_least_one():
    assert KindLimit.sharing(1).per_client == 1 and KindLimit.sharing(5).per_client == 3


def test_client_key_trusts_forwarded_for_only_behind_a_private_proxy():
    assert client_key("93.184.216.34", None) == "93.184.216.34"
    # a client that writes the header itself does not become someone else
    assert client_key("93.184.216.34", "198.51.100.1") == "93.184.216.34"
    # behind a proxy on a private address: the last hop, the one the proxy appended
    assert client_key("10.0.0.2", "1.2.3.4, 198.51.100.7") == "198.51.100.7"
    assert client_key("127.0.0.1", "") == "127.0.0.1"
    assert client_key(None, None) == "unknown"
