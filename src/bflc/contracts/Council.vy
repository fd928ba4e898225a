# pragma version 0.4.3
# pragma evm-version paris
"""
@title Council: the managers of a BFLC network decide by a threshold
@license MIT
@notice The BFLC contract trusts one address for governance, this council
        (docs/decisions/0009-manager-council.md). A decision is one call to the
        BFLC contract or to the council itself. A manager proposes it (which
        counts as its approval), others approve it; the approval that reaches
        the threshold runs the call, and the call's revert undoes the
        approval. A decision expires a fixed number of blocks after it was
        proposed and can never run after that.
@dev    Only the hash of a decision's call is stored; the call itself is in
        the DecisionProposed event, and every approver sends it again, so a
        manager approves exactly the bytes it read. Approvals are counted
        among the current managers when a decision runs, so a removed
        manager's approval no longer counts. Compare the Safe multisig,
        narrowed to two targets.
"""

MAX_MANAGERS: constant(uint256) = 16
# A failback with a new committee of 255: selector, round, offset, length
# and 255 addresses (8,292 bytes), with room to spare.
MAX_CALL: constant(uint256) = 8_320
MAX_REVERT: constant(uint256) = 320


struct Decision:
    target: address
    proposer: address
    call_hash: bytes32
    expiry: uint256  # the last block in which it can be approved or run
    executed: bool
    expired: bool


target: public(address)  # the BFLC contract
managers: public(DynArray[address, MAX_MANAGERS])
is_manager: public(HashMap[address, bool])
threshold: public(uint256)
lifetime_blocks: public(uint256)
decision_count: public(uint256)
decisions: public(HashMap[uint256, Decision])
approved: public(HashMap[uint256, HashMap[address, bool]])


event DecisionProposed:
    id: indexed(uint256)
    proposer: indexed(address)
    target: address
    data: Bytes[MAX_CALL]
    expiry: uint256

event DecisionApproved:
    id: indexed(uint256)
    manager: indexed(address)
    approvals: uint256

event DecisionRevoked:
    id: indexed(uint256)
    manager: indexed(address)
    approvals: uint256

event DecisionExecuted:
    id: indexed(uint256)
    by: indexed(address)

event DecisionExpired:
    id: indexed(uint256)

event ManagerAdded:
    manager: indexed(address)

event ManagerRemoved:
    manager: indexed(address)

event ThresholdChanged:
    threshold: uint256


@deploy
def __init__(target: address, managers: DynArray[address, MAX_MANAGERS], threshold: uint256, lifetime_blocks: uint256):
    """
    @notice Sets the BFLC contract it governs (deployed next, at an address the
            deployer computes), the managers, the threshold and how many blocks
            a decision stays open.
    """
    assert target != empty(address), "governed contract is the zero address"
    assert len(managers) > 0, "at least one manager is required"
    assert lifetime_blocks > 0, "decision lifetime must be positive"
    self.target = target
    for m: address in managers:
        self._add(m)
    self._set_threshold(threshold)
    self.lifetime_blocks = lifetime_blocks


# ---------------------------------------------------------------- decisions


@external
def propose(target: address, data: Bytes[MAX_CALL]) -> uint256:
    """
    @notice A manager proposes one call to the BFLC contract or to the council,
            and approves it. With a threshold of 1 the call runs at once.
    @return The decision's id.
    """
    assert self.is_manager[msg.sender], "caller is not a manager"
    assert target == self.target or target == self, "a decision calls the BFLC contract or the council"
    assert len(data) >= 4, "the call has no function selector"
    id: uint256 = self.decision_count
    self.decision_count = id + 1
    expiry: uint256 = block.number + self.lifetime_blocks
    self.decisions[id] = Decision(
        target=target, proposer=msg.sender, call_hash=keccak256(data), expiry=expiry, executed=False, expired=False
    )
    log DecisionProposed(id=id, proposer=msg.sender, target=target, data=data, expiry=expiry)
    self._approve(id, data)
    return id


@external
def approve(id: uint256, data: Bytes[MAX_CALL]):
    """
    @notice A manager approves a pending decision, sending its call again.
            The approval that reaches the threshold runs the call; if the call
            reverts, so does the approval, with the call's reason.
    """
    assert self.is_manager[msg.sender], "caller is not a manager"
    self._check_open(id, data)
    assert not self.approved[id][msg.sender], "already approved"
    self._approve(id, data)


@external
def revoke(id: uint256):
    """
    @notice A manager takes back its approval of a decision that has not run.
    """
    assert self.approved[id][msg.sender], "not approved by the caller"
    assert not self.decisions[id].executed, "decision already executed"
    self.approved[id][msg.sender] = False
    log DecisionRevoked(id=id, manager=msg.sender, approvals=self._approvals(id))


@external
def execute(id: uint256, data: Bytes[MAX_CALL]):
    """
    @notice Anyone runs a decision that has the threshold's approvals but has
            not run: its approvals were collected under a higher threshold,
            which a later decision lowered.
    """
    self._check_open(id, data)
    assert self._approvals(id) >= self.threshold, "not enough approvals"
    self._execute(id, data)


@external
def expire(id: uint256):
    """
    @notice Anyone marks a decision past its expiry block as expired (it could
            not run anyway); emits DecisionExpired once.
    """
    assert id < self.decision_count, "no such decision"
    d: Decision = self.decisions[id]
    assert not d.executed, "decision already executed"
    assert not d.expired, "decision already expired"
    assert block.number > d.expiry, "decision has not expired"
    self.decisions[id].expired = True
    log DecisionExpired(id=id)


@internal
@view
def _check_open(id: uint256, data: Bytes[MAX_CALL]):
    assert id < self.decision_count, "no such decision"
    d: Decision = self.decisions[id]
    assert not d.executed, "decision already executed"
    assert not d.expired and block.number <= d.expiry, "decision expired"
    assert keccak256(data) == d.call_hash, "call differs from the proposed one"


@internal
def _approve(id: uint256, data: Bytes[MAX_CALL]):
    self.approved[id][msg.sender] = True
    count: uint256 = self._approvals(id)
    log DecisionApproved(id=id, manager=msg.sender, approvals=count)
    if count >= self.threshold:
        self._execute(id, data)


@internal
def _execute(id: uint256, data: Bytes[MAX_CALL]):
    self.decisions[id].executed = True
    ok: bool = False
    response: Bytes[MAX_REVERT] = b""
    ok, response = raw_call(self.decisions[id].target, data, max_outsize=MAX_REVERT, revert_on_failure=False)
    if not ok:
        raw_revert(response)
    log DecisionExecuted(id=id, by=msg.sender)


@internal
@view
def _approvals(id: uint256) -> uint256:
    count: uint256 = 0
    for m: address in self.managers:
        if self.approved[id][m]:
            count += 1
    return count


# ---------------------------------------------------------------- the council itself (decisions only)


@external
def add_manager(manager: address):
    """
    @notice Adds a manager; only by a decision.
    """
    assert msg.sender == self, "only a decision of the council"
    self._add(manager)


@external
def remove_manager(manager: address):
    """
    @notice Removes a manager; only by a decision. The threshold must stay at
            most the number of managers left.
    """
    assert msg.sender == self, "only a decision of the council"
    assert self.is_manager[manager], "not a manager"
    assert len(self.managers) > self.threshold, "lower the threshold first: it would exceed the managers left"
    self.is_manager[manager] = False
    kept: DynArray[address, MAX_MANAGERS] = []
    for m: address in self.managers:
        if m != manager:
            kept.append(m)
    self.managers = kept
    log ManagerRemoved(manager=manager)


@external
def set_threshold(threshold: uint256):
    """
    @notice Changes the threshold; only by a decision.
    """
    assert msg.sender == self, "only a decision of the council"
    self._set_threshold(threshold)


@internal
def _add(manager: address):
    assert manager != empty(address), "manager is the zero address"
    assert not self.is_manager[manager], "already a manager"
    assert len(self.managers) < MAX_MANAGERS, "too many managers"
    self.is_manager[manager] = True
    self.managers.append(manager)
    log ManagerAdded(manager=manager)


@internal
def _set_threshold(threshold: uint256):
    assert threshold >= 1 and threshold <= len(self.managers), "threshold must be between 1 and the number of managers"
    self.threshold = threshold
    log ThresholdChanged(threshold=threshold)


# ---------------------------------------------------------------- views


@external
@view
def get_managers() -> DynArray[address, MAX_MANAGERS]:
    return self.managers


@external
@view
def approvals(id: uint256) -> DynArray[address, MAX_MANAGERS]:
    """
    @notice The current managers who approve decision ``id``.
    """
    out: DynArray[address, MAX_MANAGERS] = []
    for m: address in self.managers:
        if self.approved[id][m]:
            out.append(m)
    return out
