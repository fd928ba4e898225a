"""An untrusted JSON-RPC endpoint: Web3Ledger turns every malformed answer
into EndpointError (and no answer into ChainError), open_web3's session
refuses oversized and endless answers, and no message quotes the URL's
secrets. A HostileRpcProxy sits between the ledger and a session's anvil."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3.types import RPCEndpoint

from bflc.chain import ProtocolParams
from bflc.chain.anvil import AnvilChain, free_port
from bflc.chain.web3_ledger import Web3Ledger
from bflc.errors import ChainError, ContractRevert, EndpointError
from bflc.net.connect import MAX_RESPONSE_BYTES, MAX_RESPONSE_DEPTH, open_web3
from tests.chaos.faults import HostileRpcProxy

GENESIS = b"\x01" * 32
SECRET_URL = "http://user:s3cret@127.0.0.1:{port}/key123"


@pytest.fixture(scope="module")
def contract(anvil: AnvilChain) -> str:
    """A BFLC contract on the session's anvil; its first committee is accounts 1-3."""
    params = ProtocolParams(committee_size=3, min_committee_size=3, updates_per_round=3)
    return anvil.deploy([anvil.accounts[0]], anvil.accounts[1:4], GENESIS, "file:///genesis", params).address


@pytest.fixture
def proxy(anvil: AnvilChain) -> Iterator[HostileRpcProxy]:
    with HostileRpcProxy(anvil.url) as hostile:
        yield hostile


def ledger_via(proxy: HostileRpcProxy, contract: str, account: str, timeout: float = 30.0) -> Web3Ledger:
    """A ledger that reaches anvil through the proxy, by a URL with credentials in it."""
    return Web3Ledger(open_web3(SECRET_URL.format(port=proxy.port), timeout=timeout), contract, account)


def assert_no_secret(text: str) -> None:
    assert "s3cret" not in text and "key123" not in text and "user" not in text


MALFORMED = {
    "non-json": "",
    "truncated": "",
    "out-of-range": "is not a valid Phase",
    "bad-hex": "",
    "missing-field": "",
    "wrong-type": "",
    "huge": f"an answer of more than {MAX_RESPONSE_BYTES} bytes",
    "deep": f"JSON nested 100001 deep, over the limit of {MAX_RESPONSE_DEPTH}",
}


@pytest.mark.parametrize("mode", list(MALFORMED))
def test_a_malformed_answer_is_an_endpoint_error_and_the_next_good_one_works(mode, proxy, contract, anvil):
    ledger = ledger_via(proxy, contract, anvil.accounts[0])
    proxy.mode = mode
    with pytest.raises(EndpointError) as caught:
        ledger.round_state()
    message = str(caught.value)
    assert message.startswith("the chain endpoint answered malformed data: ")
    assert MALFORMED[mode] in message
    assert f"at http://***@127.0.0.1:{proxy.port}/***)" in message and "\n" not in message
    assert_no_secret(message)
    proxy.mode = "honest"
    state = ledger.round_state()
    assert (state.round, state.committee) == (0, tuple(anvil.accounts[1:4]))


def test_an_http_error_is_a_chain_error_that_names_the_status(proxy, contract, anvil):
    ledger = ledger_via(proxy, contract, anvil.accounts[0])
    proxy.mode = "http-500"
    with pytest.raises(ChainError) as caught:
        ledger.current_round()
    assert not isinstance(caught.value, EndpointError)
    assert str(caught.value).startswith("the chain endpoint did not answer: HTTP 500 (to current_round at http://***@127.0.0.1:")
    assert_no_secret(str(caught.value))


def test_an_answer_that_trickles_in_is_abandoned_at_the_deadline(proxy, contract, anvil):
    ledger = ledger_via(proxy, contract, anvil.accounts[0], timeout=1.0)
    proxy.mode = "trickle"  # one byte every 0.2 s: each read is quick, the whole answer takes ~20 s
    with pytest.raises(ChainError, match=r"^the chain endpoint did not finish its answer within 1 s"):
        ledger.current_round()
    proxy.mode = "honest"
    assert ledger.current_round() == 0


def test_a_transaction_whose_answers_are_malformed_raises_an_endpoint_error(proxy, contract, anvil):
    ledger = ledger_via(proxy, contract, anvil.accounts[0])
    fund_before = ledger.reward_pool()
    proxy.mode, proxy.targets = "bad-hex", frozenset({"eth_getTransactionReceipt"})
    with pytest.raises(EndpointError, match=r"\(to fund at "):
        ledger.fund(10)
    proxy.mode = "honest"
    # anvil got and mined the transaction; only its answers were garbage
    assert ledger.reward_pool() == fund_before + 10
    assert ledger.pending_transactions() == 0


def test_reverts_pass_through_unchanged(proxy, contract, anvil):
    ledger = ledger_via(proxy, contract, anvil.accounts[0])
    with pytest.raises(ContractRevert) as caught:
        ledger.close_phase(0, batch_size=1)
    assert caught.value.function == "close_phase"


def test_no_message_quotes_the_url_of_an_endpoint_that_is_down(proxy, contract, anvil):
    ledger = ledger_via(proxy, contract, anvil.accounts[0])
    proxy.stop()
    with pytest.raises(ChainError) as caught:
        ledger.current_round()
    assert str(caught.value).startswith("the chain endpoint did not answer: ConnectionError (to current_round at http://***@127.0.0.1:")
    assert_no_secret(str(caught.value))
    with pytest.raises(ChainError) as refused:
        open_web3(SECRET_URL.format(port=free_port()))
    assert str(refused.value).startswith("cannot reach the chain at http://***@127.0.0.1:")
    assert_no_secret(str(refused.value))


def test_pending_transactions_counts_what_is_broadcast_but_not_mined():
    with AnvilChain(3) as chain:
        params = ProtocolParams(committee_size=1, min_committee_size=1, updates_per_round=1)
        ledger = chain.deploy([chain.accounts[0]], chain.accounts[1:2], GENESIS, "file:///genesis", params)
        assert ledger.pending_transactions() == 0
        chain.w3.provider.make_request(RPCEndpoint("evm_setAutomine"), [False])
        for _ in range(2):
            chain.w3.eth.send_transaction({"from": chain.accounts[0], "to": ledger.address, "value": 1, "data": ledger.contract.encode_abi("fund", args=[])})
        assert ledger.pending_transactions() == 2
        assert ledger.as_account(chain.accounts[1]).pending_transactions() == 0
        chain.mine()
        assert ledger.pending_transactions() == 0
