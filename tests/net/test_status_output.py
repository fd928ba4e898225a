"""``bflc status`` shows strings from the chain with their control
characters escaped, so a proposer's URI cannot drive the terminal; the JSON
keeps them exactly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bflc.net.status import format_status
from bflc.redact import printable

HOSTILE_URI = "ipfs://model\x1b[2J\r\u202eexe.gpj\x7f\x9b\u2066\u200b"
ADDRESS = "0x" + "ab" * 20


def status(uri: str, name: str = "net") -> dict[str, Any]:
    """A ``network_status`` document of a round without updates, with model URI ``uri``."""
    return {
        "network": {"name": name, "chain_id": 31337, "contract": ADDRESS, "rpc": "http://127.0.0.1:8545", "store": "file:///s"},
        "block": 7,
        "round": 0,
        "phase": "commit",
        "round_start_block": 1,
        "phase_start_block": 1,
        "phase_deadline_block": 6,
        "round_deadline_block": 21,
        "commitments": 0,
        "final_updates": 0,
        "updates_per_round": 2,
        "model": {"round": 0, "hash": "00" * 32, "uri": uri, "block": 1, "origin": "genesis"},
        "committee": [ADDRESS],
        "managers": [ADDRESS],
        "council": {"address": ADDRESS, "threshold": 1, "decision_lifetime": 7200, "open_decisions": 0},
        "updates": [],
        "qualified": [],
        "reward_pool": 0,
        "contract_balance": 0,
        "accounts": [],
    }


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[2J", "\\x1b[2J"),
        ("a\rb\nc\td", "a\\rb\\nc\\td"),
        ("\x00\x7f\x85\x9b", "\\x00\\x7f\\x85\\x9b"),
        ("\u202eabc\u202c", "\\u202eabc\\u202c"),
        ("\u2066\u2069\u200e\u200f\u061c\u2028\ufeff", "\\u2066\\u2069\\u200e\\u200f\\u061c\\u2028\\ufeff"),
        ("\U000e0001", "\\U000e0001"),
        ("ipfs://Qm/é ü 模型 ok", "ipfs://Qm/é ü 模型 ok"),
    ],
)
def test_printable_escapes_controls_bidi_and_separators(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_the_text_shows_a_hostile_uri_escaped() -> None:
    text = format_status(status(HOSTILE_URI, name="n\x1b]0;owned\x07"))
    assert "         ipfs://model\\x1b[2J\\r\\u202eexe.gpj\\x7f\\x9b\\u2066\\u200b" in text.splitlines()
    assert text.splitlines()[0].startswith("network  n\\x1b]0;owned\\x07  chain 31337")
    assert all(c.isprintable() for line in text.splitlines() for c in line)


def test_the_json_keeps_the_uri_exactly() -> None:
    document = status(HOSTILE_URI)
    format_status(document)
    assert json.loads(json.dumps(document, indent=1))["model"]["uri"] == HOSTILE_URI
