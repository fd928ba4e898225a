# pragma version 0.4.3
"""
@title Wallet: a contract account paid by BFLC, for the payment tests
@notice Its owner makes it call BFLC.withdraw. Receiving value writes
        storage, so a 2,300-gas stipend cannot pay it. A re-entrant wallet
        calls withdraw again from __default__, once: PROPAGATE lets a failed
        inner call fail the whole payment, SWALLOW ignores it.
"""

interface BFLC:
    def withdraw(recipient: address): nonpayable

HONEST: constant(uint8) = 0
PROPAGATE: constant(uint8) = 1
SWALLOW: constant(uint8) = 2

owner: public(address)
mode: public(uint8)
target: public(address)
received: public(uint256)
payments: public(uint256)
reentered: public(bool)
reentry_succeeded: public(bool)


@deploy
def __init__(mode: uint8):
    assert mode <= SWALLOW, "unknown mode"
    self.owner = msg.sender
    self.mode = mode


@external
def pull(bflc: address):
    """
    @notice Withdraw this wallet's balance from the BFLC contract at `bflc`.
    """
    assert msg.sender == self.owner, "caller is not the owner"
    self.target = bflc
    extcall BFLC(bflc).withdraw(self)


@external
@payable
def __default__():
    self.received += msg.value
    self.payments += 1
    if self.mode == HONEST or self.reentered:
        return
    self.reentered = True
    if self.mode == PROPAGATE:
        extcall BFLC(self.target).withdraw(self)
    else:
        self.reentry_succeeded = raw_call(self.target, abi_encode(self, method_id=method_id("withdraw(address)")), revert_on_failure=False)
