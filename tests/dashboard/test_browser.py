"""End to end in a real browser: headless Chromium (Debian's, driven by
Playwright) opens the dashboard of a network that is played through the
Ledger while the page polls, waits for round 2 and checks that the page
shows the chain's committee, scores, medians and the accuracy chart.

The screenshots are saved in the test's tmp dir; set
``BFLC_DASHBOARD_SCREENSHOT=PATH`` to copy the round-2 one to PATH.
(docs/img/dashboard.png shows a ``bflc cluster up`` network instead, with
the nodes' real accuracies.)
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bflc.chain import ProtocolParams, from_fixed, to_fixed
from bflc.chain.anvil import AnvilChain
from bflc.chain.ledger import Ledger
from bflc.storage import bytes32_to_hash
from tests.dashboard.dashboard_net import GENESIS, RestartableAnvil, commit_and_reveal, dashboard_app, serve, small_network, write_node_log

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 30_000
# Scores of each round's two updates by the three members, and each node's
# accuracy of the model it starts from (the page must show their mean).
SCORES = {0: ((0.61, 0.55, 0.6), (0.58, 0.52, 0.5)), 1: ((0.74, 0.70, 0.72), (0.69, 0.71, 0.7))}
ACCURACY = {0: (0.10, 0.12), 1: (0.52, 0.56), 2: (0.70, 0.74)}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium (apt-get install chromium; make test installs it where apt-get can run)",
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def no_close() -> None:
    raise AssertionError("K commitments close the commit phase")


def submit(ledger: Ledger, trainers: list[str], blob: int) -> list[int]:
    """The two trainers commit to and reveal updates ``blob``, ``blob + 1`` (K = 2)."""
    ids = commit_and_reveal(ledger, {t: blob + i for i, t in enumerate(trainers)}, no_close)
    return [ids[t] for t in trainers]


def play_round(ledger: Ledger, trainers: list[str], scores: tuple[tuple[float, ...], ...], blob: int) -> None:
    """Two trainers submit, the committee scores and a majority proposes the same model."""
    r = ledger.current_round()
    ids = submit(ledger, trainers, blob)
    committee = ledger.committee(r)
    for m, member in enumerate(committee):
        ledger.as_account(member).submit_scores(r, ids, [to_fixed(s[m]) for s in scores])
    for member in committee[:2]:
        ledger.as_account(member).propose_model(r, (blob + 99).to_bytes(32, "big"), f"file:///models/{r + 1}")


def log_accuracies(nodes_dir: Path, ledger: Ledger, round: int) -> None:
    blob = bytes32_to_hash(ledger.model(round).blob_hash)
    for i, accuracy in enumerate(ACCURACY[round]):
        write_node_log(nodes_dir, f"node{i}", {"event": "model_evaluated", "blob": blob, "accuracy": accuracy, "round": round})


def test_page_follows_the_chain_to_round_2(browser: Any, anvil: AnvilChain, tmp_path: Path) -> None:
    acc = anvil.accounts
    # Two qualified updates a round are too few to elect three members: the committee serves every round.
    params = ProtocolParams(committee_size=3, updates_per_round=2, score_deadline_blocks=50, round_deadline_blocks=150)
    ledger = anvil.deploy([acc[0]], acc[1:4], GENESIS, "file:///models/0", params)
    trainers = acc[4:10]
    for t in trainers:
        ledger.admit(t)
    nodes_dir = tmp_path / "nodes"
    deployed = ledger.block_number() - len(trainers)
    with serve(dashboard_app(anvil.url, ledger.address, deployed_block=deployed, nodes_dir=nodes_dir)) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url + "/")
        page.wait_for_selector("#scores .empty", timeout=WAIT_MS)
        assert "No updates in round 0 yet" in page.inner_text("#scores")
        assert "No node has reported an accuracy yet" in page.inner_text("#chart")
        page.screenshot(path=str(tmp_path / "dashboard-round0.png"), full_page=True)

        for round, blob in [(0, 0x100), (1, 0x200)]:
            log_accuracies(nodes_dir, ledger, round)
            committee = ledger.committee(round)
            play_round(ledger, [t for t in trainers if t not in committee][:2], SCORES[round], blob)
        log_accuracies(nodes_dir, ledger, 2)
        r2 = ledger.committee(2)
        updates = submit(ledger, [t for t in trainers if t not in r2][:2], 0x300)
        ledger.as_account(r2[0]).submit_scores(2, updates, [to_fixed(0.81), to_fixed(0.79)])
        ledger.as_account(r2[1]).submit_scores(2, updates[:1], [to_fixed(0.77)])

        page.wait_for_function(
            "() => document.querySelector('#round-number')?.textContent === '2'"
            " && document.querySelectorAll('#scores-table td.score[data-score]:not([data-score=\"\"])').length === 3"
            " && document.querySelectorAll('#accuracy-chart circle.point').length === 3",
            timeout=WAIT_MS,
        )
        _check_committee(page, ledger)
        _check_scores(page, ledger, 2)
        _check_chart(page)
        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        if os.environ.get("BFLC_DASHBOARD_SCREENSHOT"):
            shutil.copyfile(shot, os.environ["BFLC_DASHBOARD_SCREENSHOT"])

        page.click("#round-prev")
        page.wait_for_function("() => document.getElementById('round-label').textContent === 'round 1'", timeout=WAIT_MS)
        _check_scores(page, ledger, 1)
        page.click("#round-live")
        page.wait_for_function("() => document.getElementById('round-label').textContent === 'round 2'", timeout=WAIT_MS)

        page.goto(f"{url}/node/{r2[0]}")
        page.wait_for_selector("#node-address", timeout=WAIT_MS)
        assert page.inner_text("#node-address") == r2[0]
        assert "0.1 ETH" not in page.inner_text("#node-summary")  # no rewards in this network
        page.close()
    assert errors == []


def _check_committee(page: Any, ledger: Ledger) -> None:
    shown = page.eval_on_selector_all("#committee-table tbody tr", "rows => rows.map(r => r.dataset.address)")
    assert shown == ledger.committee(2)


def _check_scores(page: Any, ledger: Ledger, round: int) -> None:
    """The scores table shows round ``round``'s votes, medians and verdicts as the chain has them."""
    for record in ledger.round_updates(round):
        row = f'#scores-table tr[data-update="{record.update_id}"]'
        cells = page.eval_on_selector_all(f"{row} td.score", "cells => cells.map(c => [c.dataset.member, c.dataset.score])")
        votes = dict(zip(record.voters, record.scores, strict=False))
        assert {m: float(s) for m, s in cells if s} == {m: from_fixed(v) for m, v in votes.items()}
        assert [m for m, _ in cells] == ledger.committee(round)
        median = page.get_attribute(f"{row} td.median", "data-median")
        assert (float(median) if median else None) == (from_fixed(record.median) if record.final else None)
        assert page.inner_text(f"{row} .badge") == ("qualified" if record.qualified else "pending")


def _check_chart(page: Any) -> None:
    points = page.eval_on_selector_all(
        "#accuracy-chart circle.point", "dots => dots.map(d => [Number(d.dataset.round), Number(d.dataset.accuracy)])"
    )
    assert [r for r, _ in points] == [0, 1, 2]
    assert [a for _, a in points] == pytest.approx([sum(ACCURACY[r]) / 2 for r in range(3)])


def test_the_council_panel_shows_open_decisions_and_their_events(browser: Any, anvil: AnvilChain) -> None:
    acc = anvil.accounts
    ledger = anvil.deploy([acc[0], acc[10]], acc[1:4], GENESIS, "file:///models/0", threshold=2)  # both sign here: decisions run
    ledger.admit(acc[4])
    decision, _ = ledger.propose("blacklist", acc[4])  # one approval of two
    with serve(dashboard_app(anvil.url, ledger.address, deployed_block=ledger.decision(0).proposed_block)) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url + "/")
        row = f'#decisions-table tr[data-decision="{decision}"]'
        page.wait_for_selector(row, timeout=WAIT_MS)
        assert page.inner_text(f"{row} code.call") == f"BFLC.blacklist(node={acc[4]})"
        assert page.inner_text(f"{row} .badge") == "1 of 2"
        assert page.inner_text("#council-threshold") == "2 of 2 managers decide"
        assert f"decision {decision} proposed by" in page.inner_text("#events")
        ledger.as_account(acc[10]).approve(decision)
        page.wait_for_selector("#decisions .empty", timeout=WAIT_MS)
        assert f"decision {decision} ran by" in page.inner_text("#events")
        page.close()
    assert errors == []


def test_banner_when_the_contract_is_missing(browser: Any, anvil: AnvilChain) -> None:
    missing = "0x" + "34" * 20
    with serve(dashboard_app(anvil.url, missing)) as url:
        page = browser.new_page()
        page.goto(url + "/")
        page.wait_for_selector("#banner:not([hidden])", timeout=WAIT_MS)
        assert page.get_attribute("#banner", "data-code") == "contract_not_found"
        assert "Contract not found" in page.inner_text("#banner")
        assert page.inner_text("#live") == "offline"
        page.close()


def test_banner_while_the_chain_is_down_then_recovery(browser: Any, restartable: RestartableAnvil) -> None:
    ledger = small_network(restartable.start())
    with serve(dashboard_app(restartable.url, ledger.address)) as url:
        page = browser.new_page()
        page.goto(url + "/")
        page.wait_for_selector('#scores-table tr[data-update="0"]', timeout=WAIT_MS)
        restartable.stop()
        page.wait_for_selector("#banner:not([hidden])", timeout=WAIT_MS)
        assert page.get_attribute("#banner", "data-code") == "chain_unreachable"
        assert "Chain unreachable" in page.inner_text("#banner")
        assert page.inner_text("#banner .endpoint") == f"The chain endpoint {restartable.url} is unhealthy."
        assert page.is_visible('#scores-table tr[data-update="0"]')  # the last data stays, dimmed
        restartable.start()
        page.wait_for_selector("#banner", state="hidden", timeout=WAIT_MS)
        assert page.inner_text("#live") == "live"
        assert page.is_visible('#scores-table tr[data-update="0"]')
        page.close()
