"""sentiment_app.admission: each kind of work has its own bound, each client a share of it."""

from __future__ import annotations

import pytest

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
    assert client_key("93.184.216.34", "8.8.8.8") == "93.184.216.34"
    # behind a proxy on a private address: the hop that proxy appended
    assert client_key("10.0.0.2", "1.1.1.1, 8.8.4.4") == "8.8.4.4"
    assert client_key("127.0.0.1", "") == "127.0.0.1"
    assert client_key(None, None) == "unknown"


@pytest.mark.parametrize(
    ("forwarded_for", "client"),
    [
        ("93.184.216.34", "93.184.216.34"),  # one proxy
        ("93.184.216.34, 10.16.0.7", "93.184.216.34"),  # a chain that appends twice (edge, then an inner proxy)
        ("93.184.216.34,10.16.0.7,172.17.0.1", "93.184.216.34"),  # no spaces, three hops
        ("8.8.8.8, 93.184.216.34, 10.16.0.7", "93.184.216.34"),  # the client's own header kept on the left
        ("unknown, 93.184.216.34", "93.184.216.34"),  # RFC 7239-style placeholders are skipped
        ("93.184.216.34:51234, 192.168.1.1:80", "93.184.216.34"),  # hops with ports
        ("2606:4700:4700::1111, fd00::5", "2606:4700:4700::1111"),  # IPv6, a unique-local inner hop
        ('"[2606:4700:4700::1111]:443", ::1', "2606:4700:4700::1111"),  # bracketed, quoted, loopback
        ("::ffff:93.184.216.34, 10.0.0.3", "93.184.216.34"),  # IPv4-mapped IPv6
        ("100.64.3.4, 93.184.216.34, 100.64.0.9", "93.184.216.34"),  # carrier-grade NAT space is not public
        (["8.8.8.8, 93.184.216.34", "10.16.0.7"], "93.184.216.34"),  # several header lines
        ("10.1.2.3, 192.168.0.9", "192.168.0.9"),  # a visitor inside the network: the nearest hop
        ("garbage, also-garbage", "10.0.0.2"),  # nothing usable: the proxy itself
    ],
)
def test_client_key_takes_the_rightmost_public_hop(forwarded_for, client):
    assert client_key("10.0.0.2", forwarded_for) == client


def test_two_visitors_behind_a_double_appending_chain_are_two_clients():
    first = client_key("10.0.0.2", "93.184.216.34, 10.16.0.7")
    second = client_key("10.0.0.2", "1.1.1.1, 10.16.0.7")
    assert first != second
    # a visitor cannot take another's share by prepending addresses
    assert client_key("10.0.0.2", "1.1.1.1, 93.184.216.34, 10.16.0.7") == first
