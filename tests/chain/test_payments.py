"""Withdrawals to contract wallets, on both chain backends.

A wallet contract (``contracts/Wallet.vy``) is the second manager of a BFLC
deployment, so a permission fee gives it a balance it can only collect by
calling ``withdraw`` itself. Its ``__default__`` writes storage: the 2,300-gas
stipend of ``send`` could not pay it. A re-entrant wallet calls ``withdraw``
again while being paid.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from web3.contract import Contract

from bflc.chain import ProtocolParams
from bflc.chain.devchain import DevChain
from bflc.chain.web3_ledger import Web3Ledger
from bflc.errors import ContractRevert
from tests.chain.attackers import deploy_test_contract, events, transact
from tests.chain.conftest import GENESIS, ChainFactory

FEE = 1001  # shared by two managers: 501 to the first, 500 to the wallet
WALLET_SHARE = 500
HONEST, PROPAGATE, SWALLOW = 0, 1, 2
STIPEND = 2_300


@dataclass
class Payee:
    chain: DevChain
    ledger: Web3Ledger
    owner: str  # the first manager, who also owns the wallet
    wallet: Contract
    trainer: str

    def pull(self) -> None:
        """The owner makes the wallet call BFLC.withdraw."""
        transact(self.chain, self.owner, self.wallet.functions.pull(self.ledger.address))

    def assert_value_is_owed(self) -> None:
        """The contract holds exactly the balances, escrows and pool it owes."""
        accounts = [self.owner, self.wallet.address, self.trainer]
        owed = sum(self.ledger.balance(a) + self.ledger.escrow(a) for a in accounts) + self.ledger.reward_pool()
        assert self.chain.native_balance(self.ledger.address) == owed


def wallet_network(chain_factory: ChainFactory, mode: int) -> Payee:
    """A BFLC deployment whose second manager is a wallet of ``mode``, holding a fee share of 500 wei."""
    chain = chain_factory(8)
    owner, committee, trainer = chain.accounts[0], chain.accounts[1:4], chain.accounts[4]
    wallet = deploy_wallet(chain, owner, mode)
    params = ProtocolParams(committee_size=3, updates_per_round=1, permission_fee=FEE)
    # Threshold 1: the wallet, a manager, cannot sign an approval.
    ledger: Web3Ledger = chain.deploy([owner, wallet.address], committee, GENESIS, "file:///genesis", params, threshold=1)
    ledger.as_account(trainer).apply(FEE)
    ledger.admit(trainer)
    assert (ledger.balance(owner), ledger.balance(wallet.address)) == (FEE - WALLET_SHARE, WALLET_SHARE)
    return Payee(chain, ledger, owner, wallet, trainer)


def deploy_wallet(chain: DevChain, owner: str, mode: int) -> Contract:
    return deploy_test_contract(chain, "Wallet", owner, mode)


def withdrawals(payee: Payee) -> list[tuple[str, int]]:
    return [(e["node"], e["amount"]) for e in events(payee.ledger, "Withdrawn")]


def test_the_wallet_cannot_be_paid_with_a_stipend(chain_factory):
    chain = chain_factory(2)
    wallet = deploy_wallet(chain, chain.accounts[0], HONEST)
    with pytest.raises(ContractRevert):
        transact(chain, chain.accounts[0], {"to": wallet.address}, value=1, gas=21_000 + STIPEND)
    transact(chain, chain.accounts[0], {"to": wallet.address}, value=1)
    assert (wallet.functions.received().call(), chain.native_balance(wallet.address)) == (1, 1)


def test_a_contract_wallet_withdraws_its_balance_through_its_own_call(chain_factory):
    payee = wallet_network(chain_factory, HONEST)
    before = payee.chain.native_balance(payee.ledger.address)
    payee.pull()
    wallet = payee.wallet.functions
    assert (wallet.received().call(), wallet.payments().call()) == (WALLET_SHARE, 1)
    assert payee.chain.native_balance(payee.wallet.address) == WALLET_SHARE
    assert payee.ledger.balance(payee.wallet.address) == 0
    assert payee.chain.native_balance(payee.ledger.address) == before - WALLET_SHARE
    assert withdrawals(payee) == [(payee.wallet.address, WALLET_SHARE)]
    with pytest.raises(ContractRevert, match="nothing to withdraw"):
        payee.pull()
    payee.assert_value_is_owed()


def test_a_reentrant_wallet_that_propagates_the_refusal_gets_nothing(chain_factory):
    payee = wallet_network(chain_factory, PROPAGATE)
    before = payee.chain.native_balance(payee.ledger.address)
    with pytest.raises(ContractRevert):
        payee.pull()
    wallet = payee.wallet.functions
    assert (wallet.received().call(), wallet.payments().call(), wallet.reentered().call()) == (0, 0, False)
    assert payee.chain.native_balance(payee.wallet.address) == 0
    assert payee.ledger.balance(payee.wallet.address) == WALLET_SHARE  # the whole withdrawal was undone
    assert payee.chain.native_balance(payee.ledger.address) == before
    assert withdrawals(payee) == []
    payee.assert_value_is_owed()


def test_a_reentrant_wallet_that_swallows_the_refusal_is_paid_once(chain_factory):
    payee = wallet_network(chain_factory, SWALLOW)
    before = payee.chain.native_balance(payee.ledger.address)
    payee.pull()
    wallet = payee.wallet.functions
    assert (wallet.reentered().call(), wallet.reentry_succeeded().call()) == (True, False)
    assert (wallet.received().call(), wallet.payments().call()) == (WALLET_SHARE, 1)
    assert payee.chain.native_balance(payee.wallet.address) == WALLET_SHARE
    assert payee.ledger.balance(payee.wallet.address) == 0
    assert payee.chain.native_balance(payee.ledger.address) == before - WALLET_SHARE
    assert withdrawals(payee) == [(payee.wallet.address, WALLET_SHARE)]
    payee.assert_value_is_owed()
