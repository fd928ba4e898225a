"""Secrets in endpoint URLs never reach logs, status files or web pages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bflc.redact import HIDDEN, one_line, redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("http://127.0.0.1:8545/", "http://127.0.0.1:8545/"),
        ("https://mainnet.infura.io/v3/0123456789abcdef", "https://mainnet.infura.io/***"),
        ("https://alice:hunter2@rpc.example.org:8545", "https://***@rpc.example.org:8545"),
        ("https://rpc.example.org/?apikey=s3cret", "https://rpc.example.org/***"),
        ("https://token@rpc.example.org#frag", "https://***@rpc.example.org/***"),
        ("http://[::1]:8545/key", "http://[::1]:8545/***"),
        ("http://host:99999999", HIDDEN),  # port out of range
        ("not a url", HIDDEN),
        ("file:///var/lib/bflc/store", HIDDEN),  # no host to show
    ],
)
def test_only_scheme_host_and_port_are_shown(url, shown):
    assert redact_url(url) == shown


def test_every_url_in_a_message_is_redacted():
    message = "HTTPSConnectionPool(host='x'): Max retries exceeded with url: https://u:p@x:1/v3/KEY?a=b (Caused by ...)"
    redacted = redact_text(message)
    assert "KEY" not in redacted and "u:p" not in redacted and "a=b" not in redacted
    assert "https://***@x:1/***" in redacted


secret = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=12, max_size=40)


@given(secret=secret, where=st.sampled_from(["user", "password", "path", "query", "fragment"]))
def test_a_secret_anywhere_but_the_host_is_never_shown(secret, where):
    url = {
        "user": f"https://{secret}@rpc.example.org",
        "password": f"https://me:{secret}@rpc.example.org:443",
        "path": f"https://rpc.example.org/v3/{secret}",
        "query": f"https://rpc.example.org/?key={secret}",
        "fragment": f"https://rpc.example.org/#{secret}",
    }[where]
    assert secret not in redact_url(url)
    assert secret not in redact_text(f"failed on {url}, giving up")


def test_one_line_folds_redacts_and_cuts():
    assert one_line("refused by\n  http://u:p@h:1/key") == "refused by http://***@h:1/***"
    assert one_line("refused by\n  http://u:p@h:1/key", limit=20) == "refused by http:/..."
    assert one_line("x" * 20, limit=20) == "x" * 20
