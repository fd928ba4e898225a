"""Odd path segments and query strings answer 400 (malformed) or 404 (no
such round, node or path) with a one-line JSON error, never a 5xx, and log
no traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3

from bflc.chain.anvil import AnvilChain
from tests.dashboard.dashboard_net import Scenario, dashboard_app, get, serve
from tests.dashboard.test_redaction import fetch

UNKNOWN_NODE = Web3.to_checksum_address("0x" + "ab" * 20)


@pytest.fixture(scope="module")
def url(scenario: Scenario, anvil: AnvilChain) -> Iterator[str]:
    with serve(dashboard_app(anvil.url, scenario.ledger.address)) as base:
        yield base


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        ("/api/rounds/-1", 400, "round '-1' is not a whole number (write it in decimal digits, e.g. 0 or 12)"),
        ("/api/rounds/1.5", 400, "round '1.5' is not a whole number (write it in decimal digits, e.g. 0 or 12)"),
        ("/api/rounds/%C2%B2", 400, "round '²' is not a whole number (write it in decimal digits, e.g. 0 or 12)"),
        ("/api/rounds/%1B%5B2J", 400, "round '\\x1b[2J' is not a whole number (write it in decimal digits, e.g. 0 or 12)"),
        ("/api/rounds/4", 404, "round 4 has not started (the current round is 3)"),
        (f"/api/rounds/{10**30}", 404, f"round {10**30} has not started (the current round is 3)"),
        (f"/api/rounds/{10**80}", 404, f"round '{10**80}' cannot exist (rounds are 256-bit numbers)"),
        ("/api/rounds/", 404, "Not Found: '/api/rounds/'"),
        ("/api/snapshot?round=", 400, "round '' is not a whole number (write it in decimal digits, e.g. 0 or 12)"),
        ("/api/snapshot?round=-2", 400, "round '-2' is not a whole number (write it in decimal digits, e.g. 0 or 12)"),
        ("/api/events?limit=ten", 400, "limit 'ten' is not a whole number (write it in decimal digits, e.g. 0 or 12)"),
        ("/api/events?all=yes", 400, "all 'yes' is not a flag (use all=1 or all=0)"),
        ("/api/nodes/0x123", 400, "'0x123' is not an address (give a 0x-prefixed, 40-hex-digit address)"),
        (f"/api/nodes/{UNKNOWN_NODE.lower()}", 404, f"the contract has no record of node {UNKNOWN_NODE}"),
        ("/api/nope", 404, "Not Found: '/api/nope'"),
    ],
)
def test_bad_parameters_get_a_one_line_json_error(url: str, path: str, status: int, error: str) -> None:
    assert get(url + path) == (status, {"error": error, "code": "bad_request" if status == 400 else "not_found"})


@pytest.mark.parametrize(("query", "shown"), [("round=99", 3), ("round=0001", 1)])
def test_a_snapshot_of_a_later_round_shows_the_current_one(url: str, query: str, shown: int) -> None:
    status, body = get(f"{url}/api/snapshot?{query}")
    assert (status, body["round"]["round"]) == (200, shown)


def test_a_huge_limit_is_the_largest(url: str) -> None:
    assert get(f"{url}/api/events?all=1&limit={'9' * 5000}") == get(f"{url}/api/events?all=1&limit=1000")


ROUTES = ["/api/rounds/{}", "/api/nodes/{}", "/node/{}", "/api/{}", "/static/{}", "/{}"]
QUERIED = ["/api/snapshot", "/api/events", "/api/overview", "/api/rounds/1"]
PARAMETERS = st.sampled_from(["round", "limit", "all", "x"]) | st.text(max_size=5)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route=st.sampled_from(ROUTES),
    segment=st.text(max_size=30),
    queried=st.sampled_from(QUERIED),
    query=st.dictionaries(PARAMETERS, st.text(max_size=30) | st.integers().map(str), max_size=3),
    raw_query=st.text(max_size=30),
)
def test_no_request_gets_a_server_error(
    url: str, route: str, segment: str, queried: str, query: dict[str, str], raw_query: str, capfd: pytest.CaptureFixture[str]
) -> None:
    paths = [route.format(quote(segment, safe="")), f"{queried}?{urlencode(query)}", f"{queried}?{quote(raw_query, safe='=&')}"]
    for path in paths:
        status, text = fetch(url + path)
        assert status in (200, 400, 404), (path, text)
        if status != 200:
            body = json.loads(text)
            assert set(body) == {"error", "code"} and "\n" not in body["error"], path
    assert "Traceback" not in capfd.readouterr().err
