"""Locally signed transactions on anvil: a whole round, reverts, nonces across
restarts and concurrent senders, dropped and unmined transactions."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bflc.chain import ModelOrigin, NodeStatus, to_fixed
from bflc.chain.anvil import AnvilChain
from bflc.chain.ledger import DEFAULT_GAS
from bflc.chain.web3_ledger import LocalSigner, Web3Ledger, _fees
from bflc.errors import ChainError, ContractRevert
from bflc.net.connect import connect

from .conftest import Deployed, KeyFactory, deploy_test_network, submit

MODEL = bytes.fromhex("ab" * 32)


def play_round(deployed: Deployed) -> None:
    """Round 0 with every transaction signed locally: commit, reveal, score, propose (a majority accepts)."""
    update_id = submit(deployed.ledger(deployed.trainers[0]), b"\x11" * 32, 25)
    for member in deployed.committee:
        deployed.ledger(member).submit_scores(0, [update_id], [to_fixed(0.8)])
    for member in deployed.committee[:2]:
        deployed.ledger(member).propose_model(0, MODEL, "file:///m")


def nonce(ledger: Web3Ledger, block: str = "latest") -> int:
    return int(ledger.w3.eth.get_transaction_count(ledger.account, block))


def stale_nonce_once(ledger: Web3Ledger, meanwhile: Callable[[], Any]) -> list[int]:
    """Make ``ledger``'s next nonce read stale: read it, run ``meanwhile``, return the old value."""
    reads: list[int] = []
    real = ledger.w3.eth.get_transaction_count

    def patched(address: str, block: str) -> int:
        value = real(address, block)
        if not reads:
            meanwhile()
        reads.append(value)
        return value

    ledger.w3.eth.get_transaction_count = patched  # type: ignore[method-assign]
    return reads


def test_a_whole_round_runs_on_signed_transactions(deployed: Deployed) -> None:
    play_round(deployed)
    ledger = deployed.ledger()
    assert ledger.current_round() == 1
    assert ledger.model(1).blob_hash == MODEL and ledger.model(1).origin == ModelOrigin.AGGREGATED
    assert ledger.committee(1) == [deployed.trainers[0].address]
    update = ledger.round_updates(0)[0]
    assert update.final and update.qualified and update.median == to_fixed(0.8)


def test_a_signed_revert_keeps_the_contract_reason(deployed: Deployed) -> None:
    outsider = deployed.ledger(deployed.trainers[0])
    before = nonce(outsider)
    with pytest.raises(ContractRevert, match="caller is not a manager") as info:
        outsider.admit(deployed.trainers[1].address)
    assert info.value.reason == "caller is not a manager" and info.value.function == "propose (admit)"
    assert nonce(outsider) == before + 1  # mined and failed, the reason replayed


def test_a_signed_ledger_records_stats_and_events(deployed: Deployed) -> None:
    ledger = deployed.ledger(deployed.manager)
    result = ledger.fund(123)
    assert result.events_named("Funded")[0].args["amount"] == 123
    assert ledger.stats.by_function["fund"] == 1 and ledger.reward_pool() == 123
    receipt = ledger.w3.eth.get_transaction_receipt("0x" + result.tx_hash)
    assert receipt["from"] == deployed.manager.address and receipt["type"] == 2  # EIP-1559 on anvil


def test_a_key_without_funds_is_rejected_by_the_node_in_one_error(deployed: Deployed, keys: KeyFactory) -> None:
    poor = keys("poor", funded=False)
    with pytest.raises(ChainError, match=f"the node rejected transaction 0x[0-9a-f]{{64}} from {poor.address}: .*funds"):
        connect(deployed.net, poor.account).fund(1)


def test_the_nonce_survives_a_restart_with_a_transaction_pending(fresh_anvil: AnvilChain, tmp_path: Path) -> None:
    deployed = deploy_test_network(fresh_anvil, tmp_path)
    first = deployed.ledger(deployed.manager)
    fresh_anvil.w3.provider.make_request("evm_setAutomine", [False])
    signer: LocalSigner = first.sender  # type: ignore[assignment]
    pending = signer.sign(first.w3, {"to": first.address, "data": first.contract.encode_abi("fund", []), "gas": 100_000, "value": 7})
    signer.broadcast(first.w3, pending)
    assert nonce(first, "pending") == nonce(first) + 1
    fresh_anvil.w3.provider.make_request("evm_setIntervalMining", [1])
    restarted = deployed.ledger(deployed.manager)  # a new process: new connection, same key, nothing remembered
    result = restarted.fund(5)
    assert restarted.w3.eth.get_transaction("0x" + result.tx_hash)["nonce"] == pending_nonce(restarted, pending) + 1
    assert restarted.w3.eth.wait_for_transaction_receipt(pending.hash, timeout=10)["status"] == 1
    assert restarted.reward_pool() == 12


def pending_nonce(ledger: Web3Ledger, signed: Any) -> int:
    return int(ledger.w3.eth.get_transaction(signed.hash)["nonce"])


def test_a_second_sender_with_the_same_key_recovers_from_nonce_too_low(deployed: Deployed) -> None:
    first, second = deployed.ledger(deployed.manager), deployed.ledger(deployed.manager)
    reads = stale_nonce_once(second, lambda: first.fund(1))
    second.fund(2)
    assert len(reads) == 2 and reads[1] == reads[0] + 1  # signed again with a fresh nonce
    assert first.reward_pool() == 3


@pytest.mark.parametrize("first_value", [1, 2], ids=["replacement-underpriced", "identical-bytes-already-imported"])
def test_a_pending_transaction_with_the_same_nonce_is_neither_replaced_nor_shared(
    fresh_anvil: AnvilChain, tmp_path: Path, first_value: int
) -> None:
    deployed = deploy_test_network(fresh_anvil, tmp_path)
    first, second = deployed.ledger(deployed.manager), deployed.ledger(deployed.manager)
    fresh_anvil.w3.provider.make_request("evm_setAutomine", [False])
    signer: LocalSigner = first.sender  # type: ignore[assignment]
    tx = {"to": first.address, "data": first.contract.encode_abi("fund", []), "gas": DEFAULT_GAS, "value": first_value}
    reads = stale_nonce_once(second, lambda: signer.broadcast(first.w3, signer.sign(first.w3, tx)))
    fresh_anvil.w3.provider.make_request("evm_setIntervalMining", [1])
    second.fund(2)  # same nonce as the pending one: rejected, so signed again with the next nonce
    assert len(reads) == 2 and reads[1] == reads[0] + 1
    wait_for(lambda: first.reward_pool() == first_value + 2)


def test_concurrent_senders_with_one_key_all_get_mined(deployed: Deployed) -> None:
    ledgers = [deployed.ledger(deployed.manager) for _ in range(3)]

    def send_three(ledger: Web3Ledger) -> list[str]:
        return [ledger.fund(1).tx_hash for _ in range(3)]

    with ThreadPoolExecutor(3) as pool:
        hashes = [h for batch in pool.map(send_three, ledgers) for h in batch]
    assert len(set(hashes)) == 9
    assert ledgers[0].reward_pool() == 9


def test_a_transaction_dropped_from_the_pool_is_sent_again(fresh_anvil: AnvilChain, tmp_path: Path) -> None:
    deployed = deploy_test_network(fresh_anvil, tmp_path)
    ledger = deployed.ledger(deployed.manager)
    ledger.sender.poll_interval = 0.05  # type: ignore[attr-defined]
    w3 = fresh_anvil.w3
    w3.provider.make_request("evm_setAutomine", [False])
    outcome: dict[str, Any] = {}
    sender = threading.Thread(target=lambda: outcome.update(result=ledger.fund(4)))
    sender.start()
    tx_hash = wait_for(lambda: next(iter(w3.eth.get_block("pending")["transactions"]), None))
    w3.provider.make_request("anvil_dropTransaction", ["0x" + bytes(tx_hash).hex()])
    wait_for(lambda: w3.eth.get_block("pending")["transactions"])  # back in the pool: the same bytes again
    fresh_anvil.mine()
    sender.join(10)
    assert outcome["result"].tx_hash == bytes(tx_hash).hex()
    assert ledger.reward_pool() == 4


def test_an_unmined_transaction_times_out_with_its_hash(fresh_anvil: AnvilChain, tmp_path: Path) -> None:
    deployed = deploy_test_network(fresh_anvil, tmp_path)
    ledger = connect(deployed.net, deployed.manager.account, receipt_timeout=1)
    fresh_anvil.w3.provider.make_request("evm_setAutomine", [False])
    with pytest.raises(ChainError, match=r"transaction 0x[0-9a-f]{64} from .* was not mined within 1 s") as info:
        ledger.fund(1)
    tx_hash = str(info.value).split()[1]
    assert ledger.w3.eth.get_transaction(tx_hash)["blockNumber"] is None  # still pending, as the message says
    assert "look it up before sending again" in str(info.value)


def test_a_blacklisted_signer_gets_the_contract_reason(deployed: Deployed) -> None:
    deployed.ledger(deployed.manager).blacklist(deployed.trainers[1].address)
    trainer = deployed.ledger(deployed.trainers[1])
    assert trainer.status() == NodeStatus.BLACKLISTED
    with pytest.raises(ContractRevert, match="node is not admitted"):
        submit(trainer, b"\x22" * 32, 5)


def test_fees_fall_back_to_a_gas_price_without_a_base_fee() -> None:
    legacy = SimpleNamespace(eth=SimpleNamespace(get_block=lambda _: {}, gas_price=7))
    assert _fees(legacy) == {"gasPrice": 7}  # type: ignore[arg-type]
    london = SimpleNamespace(eth=SimpleNamespace(get_block=lambda _: {"baseFeePerGas": 10}, max_priority_fee=2))
    assert _fees(london) == {"maxFeePerGas": 22, "maxPriorityFeePerGas": 2}  # type: ignore[arg-type]


def wait_for(probe: Callable[[], Any], timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not reached")
