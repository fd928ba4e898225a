"""Tools of the consensus-safety tests: what an attacker does besides
calling the ledger, on either chain backend.

Single raw transactions (one ``close_phase`` of a multi-transaction close,
where ``Ledger.close_phase`` would loop to the end), commitments to a blob
of the attacker's choosing, every event the contract ever emitted, chain
snapshots (to replay the same moment with another caller), the reference
answers of ``bflc.protocol`` for what the chain recorded, and small Vyper
contracts of ``tests/chain/contracts`` compiled and called from any account.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache, reduce
from pathlib import Path
from typing import Any

import vyper
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import Web3RPCError
from web3.types import RPCEndpoint

from bflc.chain import Ledger, NodeStatus, ProtocolParams, TxResult
from bflc.chain.artifact import load_artifact
from bflc.chain.devchain import DevChain
from bflc.chain.inprocess import InProcessChain
from bflc.chain.web3_ledger import REVERT_ERRORS, Web3Ledger, revert_reason
from bflc.errors import ContractRevert
from bflc.protocol import Candidate, commitment, elect_random, elected_size, election_seed, lower_median, mix_entropy, qualify
from tests.chain.conftest import Network

CONTRACTS = Path(__file__).parent / "contracts"
CALL_GAS = 1_000_000

# A committed update as its trainer keeps it until the reveal: (trainer, blob hash, samples, salt).
Sealed = tuple[str, bytes, int, bytes]


# ---------------------------------------------------------------- BFLC transactions


def send(ledger: Ledger, function: str, *args: Any) -> TxResult:
    """One BFLC transaction exactly as the ledger sends it (for example one ``close_phase`` of several)."""
    return ledger._transact(function, *args)


def commit_to(net: Network, trainer: str, blob: bytes, samples: int = 10) -> Sealed:
    """``trainer`` commits, with a fresh salt, to a blob hash of its choosing (a copy, a guess, an old blob)."""
    r = net.ledger.current_round()
    salt = net.salt()
    net.at(trainer).commit_update(r, commitment(trainer, r, blob, samples, salt))
    return trainer, blob, samples, salt


def events(ledger: Ledger, name: str) -> list[dict[str, Any]]:
    """The arguments of every ``name`` event the ledger's contract emitted, in order."""
    assert isinstance(ledger, Web3Ledger), "events are read through web3"
    return [dict(log["args"]) for log in ledger.contract.events[name]().get_logs(from_block=0)]


@contextmanager
def snapshot(chain: DevChain) -> Iterator[None]:
    """Run the ``with`` block, then put the whole chain back as it was before it."""
    if isinstance(chain, InProcessChain):
        taken = chain.tester.take_snapshot()
        try:
            yield
        finally:
            chain.tester.revert_to_snapshot(taken)
        return
    provider = chain.w3.provider
    taken = provider.make_request(RPCEndpoint("evm_snapshot"), [])["result"]
    try:
        yield
    finally:
        assert provider.make_request(RPCEndpoint("evm_revert"), [taken])["result"] is True


def contract_ints(params: ProtocolParams) -> dict[str, int]:
    """The integers the contract is deployed with, by the contract's own ``Params`` field names."""
    ctor = next(item for item in load_artifact()["abi"] if item["type"] == "constructor")
    names = [component["name"] for component in ctor["inputs"][-1]["components"]]
    return dict(zip(names, params.to_contract(), strict=True))


def contract_params(params: ProtocolParams, **overrides: int) -> tuple[int, ...]:
    """The constructor's ``Params`` tuple with fields replaced by name, past the Python-side validation."""
    values = contract_ints(params)
    assert set(overrides) <= set(values), f"unknown Params fields {set(overrides) - set(values)}"
    return tuple({**values, **overrides}.values())


# ---------------------------------------------------------------- reference answers


def entropy_of(salts: Sequence[bytes]) -> int:
    """A round's shared randomness from its revealed salts."""
    return reduce(mix_entropy, salts, 0)


def final_candidates(ledger: Ledger, round: int) -> list[Candidate]:
    """The round's final updates as qualification sees them (blacklisted providers excluded)."""
    return [
        Candidate(u.update_id, u.provider, u.median)
        for u in ledger.round_updates(round, with_votes=False)
        if u.final and ledger.status(u.provider) != NodeStatus.BLACKLISTED
    ]


def reference_qualified(ledger: Ledger, round: int, params: ProtocolParams, medians: dict[int, int] | None = None) -> list[int]:
    """The ids ``bflc.protocol.qualify`` picks from the round's final updates.

    ``medians`` (update id -> median) replaces the recorded medians, for
    example by those of the honest votes alone.
    """
    ints = contract_ints(params)
    cands = [Candidate(c.update_id, c.provider, (medians or {}).get(c.update_id, c.median)) for c in final_candidates(ledger, round)]
    return [c.update_id for c in qualify(cands, ints["qualify_top_bps"], ints["min_score"], ints["relative_score_bps"])]


def honest_medians(rows: dict[int, Sequence[int]]) -> dict[int, int]:
    """Update id -> lower median of the honest members' scores on it."""
    return {uid: lower_median(scores) for uid, scores in rows.items()}


def eligible(ledger: Ledger, source_round: int, exclude_round: int) -> list[Candidate]:
    """``source_round``'s qualified updates, best first, whose providers are admitted and did not serve in ``exclude_round``."""
    excluded = set(ledger.committee(exclude_round))
    by_id = {u.update_id: u for u in ledger.round_updates(source_round, with_votes=False)}
    return [
        Candidate(uid, by_id[uid].provider, by_id[uid].median)
        for uid in ledger.qualified(source_round)
        if by_id[uid].provider not in excluded and ledger.status(by_id[uid].provider) == NodeStatus.ADMITTED
    ]


def reference_random_committee(ledger: Ledger, source_round: int, exclude_round: int, seed_round: int) -> list[str]:
    """The committee a random election seats from :func:`eligible`, seeded by ``seed_round``'s entropy."""
    params = ledger.params()
    cands = eligible(ledger, source_round, exclude_round)
    size = elected_size(len(cands), params.committee_size, params.min_committee_size)
    return elect_random(cands, size, election_seed(ledger.entropy(seed_round), seed_round))


# ---------------------------------------------------------------- test contracts


@cache
def compiled(name: str) -> dict[str, Any]:
    """ABI and bytecode of ``tests/chain/contracts/<name>.vy``."""
    return vyper.compile_code((CONTRACTS / f"{name}.vy").read_text(), output_formats=["abi", "bytecode"])


def deploy_test_contract(chain: DevChain, name: str, deployer: str, *args: Any) -> Contract:
    """Deploy a test contract from the unlocked ``deployer``."""
    artifact = compiled(name)
    factory = chain.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = chain.w3.eth.wait_for_transaction_receipt(factory.constructor(*args).transact({"from": deployer, "gas": 3_000_000}))
    assert receipt["status"] == 1, f"deploying {name} failed"
    return chain.w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])


def transact(chain: DevChain, sender: str, call: ContractFunction | dict[str, Any], value: int = 0, gas: int = CALL_GAS) -> Any:
    """Mine one transaction from the unlocked ``sender``: a contract function call, or a plain ``{"to", "data"}``.

    Returns the receipt. A transaction mined as failed raises ContractRevert
    with the reason its replay on the parent block gives (as the ledger does).
    """
    tx = dict(call) if isinstance(call, dict) else {"to": call.address, "data": call._encode_transaction_data()}
    tx = {"from": Web3.to_checksum_address(sender), "value": value, "gas": gas, **tx}
    receipt = chain.w3.eth.wait_for_transaction_receipt(chain.w3.eth.send_transaction(tx))
    if receipt["status"] == 1:
        return receipt
    try:
        chain.w3.eth.call(tx, block_identifier=receipt["blockNumber"] - 1)
    except (*REVERT_ERRORS, Web3RPCError) as exc:  # a node reports some failures (out of gas) as RPC errors
        raise ContractRevert(revert_reason(exc), tx.get("data", "")[:10]) from None
    raise ContractRevert("reverted without a reason", tx.get("data", "")[:10])
