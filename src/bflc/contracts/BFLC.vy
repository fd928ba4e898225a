# pragma version 0.4.3
# pragma evm-version paris
"""
@title BFLC: blockchain-based federated learning with committee consensus
@license MIT
@notice One contract holds the whole protocol of Li et al., "A Blockchain-Based
        Decentralized Federated Learning Framework with Committee Consensus"
        (IEEE Network, 2021). Model weights live off-chain in a content-addressed
        store; the chain records their sha256 hashes, the committee's scores, the
        accepted global models, the committees and the balances.
@dev    Reads top to bottom as the protocol: constants, roles, storage, events,
        then one section per phase of a round: admission, submission, scoring,
        aggregation, election, rewards, failure handling, views.
        Scores are fixed-point: SCORE_ONE means accuracy 1.0.
        A round runs in four phases: trainers commit to their updates, then
        reveal them (so nobody can copy or front-run an update), the committee
        scores every revealed update, then aggregates the qualified ones.
        Every loop is bounded by a named constant; a round costs O(K + M)
        transactions and no function loops over all registered nodes.
"""

# ---------------------------------------------------------------- constants

MAX_MANAGERS: constant(uint256) = 16
MAX_COMMITTEE: constant(uint256) = 64
MAX_UPDATES: constant(uint256) = 128
MAX_BATCH: constant(uint256) = 128
MAX_URI: constant(uint256) = 256
SCORE_ONE: constant(uint256) = 1_000_000
BPS: constant(uint256) = 10_000

# ---------------------------------------------------------------- roles and states

flag NodeStatus:
    APPLIED
    ADMITTED
    LEFT
    BLACKLISTED

flag Phase:
    COMMIT
    REVEAL
    SCORING
    AGGREGATING

flag Election:
    RANDOM
    SCORE
    MULTI_FACTOR

flag ModelOrigin:
    GENESIS
    AGGREGATED
    CARRIED_OVER
    FAILBACK

struct Params:
    committee_size: uint256
    min_committee_size: uint256
    updates_per_round: uint256
    qualify_top_bps: uint256
    min_score: uint256
    relative_score_bps: uint256
    election: Election
    score_weight_bps: uint256
    factor_weight_bps: uint256
    commit_deadline_blocks: uint256
    reveal_deadline_blocks: uint256
    score_deadline_blocks: uint256
    round_deadline_blocks: uint256
    permission_fee: uint256
    round_reward: uint256
    committee_share_bps: uint256

struct Update:
    round: uint256
    provider: address
    blob_hash: bytes32
    n_samples: uint256
    num_votes: uint256
    median: uint256
    final: bool
    qualified: bool

struct Model:
    blob_hash: bytes32
    uri: String[MAX_URI]
    block: uint256
    origin: ModelOrigin

# ---------------------------------------------------------------- storage

params: public(Params)
managers: public(DynArray[address, MAX_MANAGERS])
is_manager: public(HashMap[address, bool])
status: public(HashMap[address, NodeStatus])
factor: public(HashMap[address, uint256])

balances: public(HashMap[address, uint256])
escrow: public(HashMap[address, uint256])
reward_pool: public(uint256)

current_round: public(uint256)
phase: public(Phase)
round_start_block: public(uint256)
phase_start_block: public(uint256)
num_commits: public(uint256)
num_final: public(uint256)
num_updates: public(uint256)
close_cursor: public(uint256)

models: HashMap[uint256, Model]
committees: HashMap[uint256, DynArray[address, MAX_COMMITTEE]]
in_committee: HashMap[uint256, HashMap[address, bool]]

updates: HashMap[uint256, Update]
round_updates: HashMap[uint256, DynArray[uint256, MAX_UPDATES]]
qualified: HashMap[uint256, DynArray[uint256, MAX_UPDATES]]
commitment: public(HashMap[uint256, HashMap[address, bytes32]])
submitted: HashMap[uint256, HashMap[address, bool]]
blob_used: public(HashMap[bytes32, bool])
entropy: public(HashMap[uint256, uint256])

vote_members: HashMap[uint256, DynArray[address, MAX_COMMITTEE]]
vote_scores: HashMap[uint256, DynArray[uint256, MAX_COMMITTEE]]
has_voted: HashMap[uint256, HashMap[address, bool]]

proposal_of: HashMap[uint256, HashMap[address, bytes32]]
proposal_count: public(HashMap[uint256, HashMap[bytes32, uint256]])
proposal_uri: HashMap[uint256, HashMap[bytes32, String[MAX_URI]]]

# ---------------------------------------------------------------- events

event NodeApplied:
    node: indexed(address)
    fee: uint256

event ApplicationWithdrawn:
    node: indexed(address)
    refund: uint256

event NodeAdmitted:
    node: indexed(address)
    by: indexed(address)
    fee: uint256

event NodeBlacklisted:
    node: indexed(address)
    by: indexed(address)

event NodeLeft:
    node: indexed(address)

event NodeRejoined:
    node: indexed(address)

event FactorDeclared:
    node: indexed(address)
    value: uint256

event Funded:
    sender: indexed(address)
    amount: uint256

event Withdrawn:
    node: indexed(address)
    amount: uint256

event PhaseStarted:
    round: indexed(uint256)
    phase: Phase

event UpdateCommitted:
    round: indexed(uint256)
    provider: indexed(address)

event UpdateSubmitted:
    round: indexed(uint256)
    update_id: indexed(uint256)
    provider: indexed(address)
    blob_hash: bytes32
    n_samples: uint256

event ScoresSubmitted:
    round: indexed(uint256)
    member: indexed(address)
    count: uint256

event UpdateFinalized:
    round: indexed(uint256)
    update_id: indexed(uint256)
    median: uint256
    num_votes: uint256

event AggregationTriggered:
    round: indexed(uint256)
    num_final: uint256
    num_qualified: uint256

event ModelProposed:
    round: indexed(uint256)
    member: indexed(address)
    blob_hash: bytes32
    votes_for_hash: uint256

event ModelAccepted:
    round: indexed(uint256)
    blob_hash: bytes32
    uri: String[MAX_URI]

event CommitteeElected:
    round: indexed(uint256)
    members: DynArray[address, MAX_COMMITTEE]
    carried_over: bool

event RewardPaid:
    round: indexed(uint256)
    node: indexed(address)
    amount: uint256
    for_committee: bool

event FeeShared:
    manager: indexed(address)
    amount: uint256

event RoundStarted:
    round: indexed(uint256)
    blob_hash: bytes32
    origin: ModelOrigin

event RoundSkipped:
    round: indexed(uint256)

event CommitteeReplaced:
    round: indexed(uint256)
    by: indexed(address)
    members: DynArray[address, MAX_COMMITTEE]

event Failback:
    from_round: indexed(uint256)
    to_round: indexed(uint256)
    blob_hash: bytes32
    by: indexed(address)

# ---------------------------------------------------------------- constructor


@deploy
def __init__(
    managers: DynArray[address, MAX_MANAGERS],
    first_committee: DynArray[address, MAX_COMMITTEE],
    genesis_hash: bytes32,
    genesis_uri: String[MAX_URI],
    params: Params,
):
    """
    @notice Sets the managers, the first committee, the genesis model (round 0)
            and the protocol parameters. Managers and first-committee members are
            admitted without a fee.
    @param managers The founding nodes that admit and blacklist others.
    @param first_committee The committee of round 0 (trusted to be mostly honest).
    @param genesis_hash sha256 of the initial model blob.
    @param genesis_uri Where the initial model blob can be fetched.
    @param params Protocol parameters; see docs/protocol.md.
    """
    assert len(managers) > 0, "at least one manager is required"
    assert params.committee_size % 2 == 1, "committee size must be odd"
    assert params.committee_size <= MAX_COMMITTEE, "committee size above MAX_COMMITTEE"
    assert params.min_committee_size % 2 == 1, "minimum committee size must be odd"
    assert params.min_committee_size <= params.committee_size, "minimum committee size above committee size"
    assert params.updates_per_round > 0, "updates per round must be positive"
    assert params.updates_per_round <= MAX_UPDATES, "updates per round above MAX_UPDATES"
    assert params.qualify_top_bps > 0 and params.qualify_top_bps <= BPS, "qualify_top_bps must be in 1..10000"
    assert params.min_score <= SCORE_ONE, "min score above 1.0"
    assert params.relative_score_bps <= BPS, "relative_score_bps above 10000"
    assert params.score_weight_bps + params.factor_weight_bps == BPS, "election weights must add up to 10000"
    assert params.committee_share_bps <= BPS, "committee share above 10000"
    assert params.commit_deadline_blocks > 0 and params.reveal_deadline_blocks > 0 and params.score_deadline_blocks > 0, "phase deadlines must be positive"
    assert params.round_deadline_blocks >= params.commit_deadline_blocks + params.reveal_deadline_blocks + params.score_deadline_blocks, "round deadline before the phase deadlines add up"
    assert genesis_hash != empty(bytes32), "genesis hash is empty"
    self._check_committee_size(len(first_committee), params)

    self.params = params
    for m: address in managers:
        assert m != empty(address), "manager is the zero address"
        assert not self.is_manager[m], "duplicate manager"
        self.is_manager[m] = True
        self.status[m] = NodeStatus.ADMITTED
        self.managers.append(m)
    for c: address in first_committee:
        assert c != empty(address), "committee member is the zero address"
        assert not self.in_committee[0][c], "duplicate committee member"
        self.in_committee[0][c] = True
        self.status[c] = NodeStatus.ADMITTED

    self.committees[0] = first_committee
    self.models[0] = Model(blob_hash=genesis_hash, uri=genesis_uri, block=block.number, origin=ModelOrigin.GENESIS)
    self.blob_used[genesis_hash] = True
    self.phase = Phase.COMMIT
    self.round_start_block = block.number
    self.phase_start_block = block.number
    log RoundStarted(round=0, blob_hash=genesis_hash, origin=ModelOrigin.GENESIS)
    log CommitteeElected(round=0, members=first_committee, carried_over=False)

# ---------------------------------------------------------------- admission


@payable
@external
def apply():
    """
    @notice A new node asks to join, paying exactly the permission fee into escrow.
    @dev Emits NodeApplied. The fee goes to the managers when a manager admits the node.
    """
    assert self.status[msg.sender] != NodeStatus.BLACKLISTED, "node is blacklisted"
    assert self.status[msg.sender] == empty(NodeStatus), "node already applied or admitted"
    assert msg.value == self.params.permission_fee, "value must equal the permission fee"
    self.status[msg.sender] = NodeStatus.APPLIED
    self.escrow[msg.sender] = msg.value
    log NodeApplied(node=msg.sender, fee=msg.value)


@external
def withdraw_application():
    """
    @notice An applicant not yet admitted takes its application back; the fee
            is credited to its balance.
    """
    assert self.status[msg.sender] == NodeStatus.APPLIED, "no pending application"
    refund: uint256 = self._release_escrow(msg.sender)
    self.status[msg.sender] = empty(NodeStatus)
    log ApplicationWithdrawn(node=msg.sender, refund=refund)


@external
def admit(node: address):
    """
    @notice A manager admits a node. With a non-zero permission fee the node
            must have applied; the fee is shared among the managers to the wei.
    @dev Emits NodeAdmitted and one FeeShared per manager paid.
    """
    assert self.is_manager[msg.sender], "caller is not a manager"
    assert node != empty(address), "node is the zero address"
    st: NodeStatus = self.status[node]
    assert st != NodeStatus.BLACKLISTED, "node is blacklisted"
    assert st != NodeStatus.ADMITTED and st != NodeStatus.LEFT, "node already admitted"
    assert st == NodeStatus.APPLIED or self.params.permission_fee == 0, "node has not applied and paid the fee"
    fee: uint256 = self.escrow[node]
    self.escrow[node] = 0
    self._share_fee(fee)
    self.status[node] = NodeStatus.ADMITTED
    log NodeAdmitted(node=node, by=msg.sender, fee=fee)


@external
def blacklist(node: address):
    """
    @notice A manager blacklists a node: it can no longer submit, vote, be
            elected or be admitted again. A pending application fee is refunded
            to its balance. Votes and updates it already recorded stay.
    """
    assert self.is_manager[msg.sender], "caller is not a manager"
    assert not self.is_manager[node], "managers cannot be blacklisted"
    assert self.status[node] != NodeStatus.BLACKLISTED, "node already blacklisted"
    if self.status[node] == NodeStatus.APPLIED:
        self._release_escrow(node)
    self.status[node] = NodeStatus.BLACKLISTED
    log NodeBlacklisted(node=node, by=msg.sender)


@external
def leave():
    """
    @notice An admitted node leaves. Its recorded update and votes stay valid;
            it can rejoin later without paying the fee again.
    """
    assert self.status[msg.sender] == NodeStatus.ADMITTED, "node is not admitted"
    assert not self.is_manager[msg.sender], "managers cannot leave"
    self.status[msg.sender] = NodeStatus.LEFT
    log NodeLeft(node=msg.sender)


@external
def rejoin():
    """
    @notice A node that left comes back.
    """
    assert self.status[msg.sender] == NodeStatus.LEFT, "node has not left"
    self.status[msg.sender] = NodeStatus.ADMITTED
    log NodeRejoined(node=msg.sender)


@external
def declare_factor(factor_value: uint256):
    """
    @notice A node declares the extra factor (for example normalised bandwidth)
            used by multi-factor election; fixed-point like scores.
    """
    assert self.status[msg.sender] == NodeStatus.ADMITTED, "node is not admitted"
    assert factor_value <= SCORE_ONE, "factor above 1.0"
    self.factor[msg.sender] = factor_value
    log FactorDeclared(node=msg.sender, value=factor_value)


@payable
@external
def fund():
    """
    @notice Anyone adds native value to the reward pool paid out per round.
    """
    assert msg.value > 0, "nothing to fund"
    self.reward_pool += msg.value
    log Funded(sender=msg.sender, amount=msg.value)


@external
@nonreentrant
def withdraw():
    """
    @notice A node withdraws its whole balance (fees, rewards, refunds).
    @dev The balance is zeroed before the transfer, which forwards all
         remaining gas so that contract wallets can receive it; the lock
         refuses re-entry.
    """
    amount: uint256 = self.balances[msg.sender]
    assert amount > 0, "nothing to withdraw"
    self.balances[msg.sender] = 0
    raw_call(msg.sender, b"", value=amount)
    log Withdrawn(node=msg.sender, amount=amount)


@internal
def _release_escrow(node: address) -> uint256:
    amount: uint256 = self.escrow[node]
    self.escrow[node] = 0
    self.balances[node] += amount
    return amount


@internal
def _share_fee(fee: uint256):
    # Equal shares; the first (fee mod n) managers get one extra wei so that
    # the whole fee is paid out.
    n: uint256 = len(self.managers)
    each: uint256 = fee // n
    rest: uint256 = fee % n
    if fee == 0:
        return
    for i: uint256 in range(MAX_MANAGERS):
        if i >= n:
            break
        amount: uint256 = each
        if i < rest:
            amount += 1
        if amount > 0:
            self.balances[self.managers[i]] += amount
            log FeeShared(manager=self.managers[i], amount=amount)

# ---------------------------------------------------------------- submission


@internal
@view
def _check_round(round: uint256):
    assert round <= self.current_round, "future round"
    assert round == self.current_round, "stale round"


@internal
def _set_phase(round: uint256, phase: Phase):
    self.phase = phase
    self.phase_start_block = block.number
    log PhaseStarted(round=round, phase=phase)


@internal
@view
def _check_phase(round: uint256, phase: Phase):
    # The caller is admitted, the round is current and it is in `phase`
    # (commit, reveal or scoring). A deadline does not end a phase by itself:
    # it lets anyone close it (close_phase).
    assert self.status[msg.sender] == NodeStatus.ADMITTED, "node is not admitted"
    self._check_round(round)
    assert self.phase == phase, "not this phase of the round"


@external
def commit_update(round: uint256, commitment: bytes32):
    """
    @notice An admitted node outside the committee commits to its local update
            for the current round, without showing it: commitment =
            keccak256(abi_encode(sender, round, blob_hash, n_samples, salt)).
            Commitments close when K have arrived or when a node closes the
            phase after the commit deadline; only then are blobs uploaded and
            revealed, so nobody can copy an update in time to commit to it.
    @dev One commitment per node per round. Emits UpdateCommitted.
    """
    self._check_phase(round, Phase.COMMIT)
    assert not self.in_committee[round][msg.sender], "committee members do not train in their round"
    assert self.commitment[round][msg.sender] == empty(bytes32), "node already committed an update this round"
    assert commitment != empty(bytes32), "commitment is empty"
    self.commitment[round][msg.sender] = commitment
    count: uint256 = self.num_commits + 1
    self.num_commits = count
    log UpdateCommitted(round=round, provider=msg.sender)
    if count == self.params.updates_per_round:
        self._set_phase(round, Phase.REVEAL)


@external
def reveal_update(round: uint256, blob_hash: bytes32, n_samples: uint256, salt: bytes32) -> uint256:
    """
    @notice A node that committed reveals its update: the sha256 of its blob
            (now in the store), its sample count and the salt of its
            commitment. The salt also feeds the round's shared randomness.
    @return The update id.
    @dev A blob hash can be used once ever (no update or global model twice).
         Scoring starts when every commitment is revealed or when a node
         closes the phase after the reveal deadline. Emits UpdateSubmitted.
    """
    self._check_phase(round, Phase.REVEAL)
    assert not self.submitted[round][msg.sender], "node already revealed its update this round"
    assert keccak256(abi_encode(msg.sender, round, blob_hash, n_samples, salt)) == self.commitment[round][msg.sender], "reveal does not match this node's commitment"
    assert blob_hash != empty(bytes32), "blob hash is empty"
    assert not self.blob_used[blob_hash], "blob already used"
    assert n_samples > 0, "sample count must be positive"

    update_id: uint256 = self.num_updates
    self.num_updates = update_id + 1
    self.updates[update_id] = Update(
        round=round, provider=msg.sender, blob_hash=blob_hash, n_samples=n_samples,
        num_votes=0, median=0, final=False, qualified=False,
    )
    self.round_updates[round].append(update_id)
    self.submitted[round][msg.sender] = True
    self.blob_used[blob_hash] = True
    self.entropy[round] = self.entropy[round] ^ convert(salt, uint256)
    log UpdateSubmitted(round=round, update_id=update_id, provider=msg.sender, blob_hash=blob_hash, n_samples=n_samples)
    if len(self.round_updates[round]) == self.num_commits:
        self._set_phase(round, Phase.SCORING)
    return update_id

# ---------------------------------------------------------------- scoring


@internal
@pure
def _lower_median(values: DynArray[uint256, MAX_COMMITTEE]) -> uint256:
    # Insertion sort, then the lower middle element: for an even count the
    # smaller of the two middle scores, so colluders who inflate scores need a
    # strict majority of the votes to raise it.
    s: DynArray[uint256, MAX_COMMITTEE] = values
    n: uint256 = len(s)
    for i: uint256 in range(1, MAX_COMMITTEE):
        if i >= n:
            break
        v: uint256 = s[i]
        j: uint256 = i
        for _k: uint256 in range(MAX_COMMITTEE):
            if j == 0 or s[j - 1] <= v:
                break
            s[j] = s[j - 1]
            j -= 1
        s[j] = v
    return s[(n - 1) // 2]


@internal
def _finalize(round: uint256, update_id: uint256, num_votes: uint256):
    # Exactly once per update: both callers check that it is not final yet.
    median: uint256 = self._lower_median(self.vote_scores[update_id])
    self.updates[update_id].median = median
    self.updates[update_id].final = True
    self.num_final += 1
    log UpdateFinalized(round=round, update_id=update_id, median=median, num_votes=num_votes)


@external
def submit_scores(round: uint256, update_ids: DynArray[uint256, MAX_BATCH], scores: DynArray[uint256, MAX_BATCH]):
    """
    @notice A committee member records its scores (accuracy on its own data,
            SCORE_ONE = 1.0) for a batch of this round's updates.
    @dev One vote per member per update, until scoring begins to close. An update
         is final once every member has scored it; aggregation triggers when
         every revealed update is final, so no member decides alone which
         updates are aggregated. Emits ScoresSubmitted, UpdateFinalized,
         AggregationTriggered.
    """
    self._check_phase(round, Phase.SCORING)
    assert self.close_cursor == 0, "scoring is closing"
    assert self.in_committee[round][msg.sender], "caller is not a committee member"
    assert len(update_ids) == len(scores), "update_ids and scores differ in length"
    assert len(update_ids) > 0, "empty batch"
    size: uint256 = len(self.committees[round])
    for i: uint256 in range(MAX_BATCH):
        if i >= len(update_ids):
            break
        uid: uint256 = update_ids[i]
        score: uint256 = scores[i]
        assert uid < self.num_updates and self.updates[uid].round == round, "unknown update for this round"
        assert not self.has_voted[uid][msg.sender], "member already voted on this update"
        assert score <= SCORE_ONE, "score out of range"
        self.has_voted[uid][msg.sender] = True
        self.vote_members[uid].append(msg.sender)
        self.vote_scores[uid].append(score)
        votes: uint256 = self.updates[uid].num_votes + 1
        self.updates[uid].num_votes = votes
        if votes == size:
            self._finalize(round, uid, votes)
    log ScoresSubmitted(round=round, member=msg.sender, count=len(update_ids))
    if self.num_final == len(self.round_updates[round]):
        self._qualify(round)


@external
def close_phase(round: uint256, max_updates: uint256):
    """
    @notice After the current phase's deadline, any admitted node closes it:
            commitments (if any arrived) go on to be revealed, reveals (if
            any arrived) go on to be scored, and scoring ends: every update
            with votes from more than half of the committee becomes final
            and aggregation triggers with the final updates.
    @param max_updates How many not yet examined updates a scoring close
           examines, so that a large round closes over several transactions
           that each fit in a block.
    @dev No vote is accepted once a scoring close began, so a close that
         takes several transactions sees the same votes throughout. The call
         that examines the last update reverts if no update has a quorum (the
         committee then fails and is replaced after the round deadline).
    """
    assert self.status[msg.sender] == NodeStatus.ADMITTED, "node is not admitted"
    self._check_round(round)
    p: Phase = self.phase
    deadline: uint256 = self.params.score_deadline_blocks
    if p == Phase.COMMIT:
        deadline = self.params.commit_deadline_blocks
    elif p == Phase.REVEAL:
        deadline = self.params.reveal_deadline_blocks
    assert p != Phase.AGGREGATING, "round is aggregating"
    assert block.number >= self.phase_start_block + deadline, "phase deadline not reached"
    if p == Phase.COMMIT:
        assert self.num_commits > 0, "no update was committed"
        self._set_phase(round, Phase.REVEAL)
        return
    n: uint256 = len(self.round_updates[round])
    if p == Phase.REVEAL:
        assert n > 0, "no update was revealed"
        self._set_phase(round, Phase.SCORING)
        return
    assert max_updates > 0, "max_updates must be positive"
    size: uint256 = len(self.committees[round])
    start: uint256 = self.close_cursor
    stop: uint256 = min(n, start + max_updates)
    for i: uint256 in range(start, stop, bound=MAX_UPDATES):
        uid: uint256 = self.round_updates[round][i]
        votes: uint256 = self.updates[uid].num_votes
        if not self.updates[uid].final and 2 * votes > size:
            self._finalize(round, uid, votes)
    self.close_cursor = stop
    if stop == n:
        assert self.num_final > 0, "no update reached a quorum of votes"
        self._qualify(round)


# ---------------------------------------------------------------- aggregation


@internal
def _qualify(round: uint256):
    # Rank final updates by median (descending), ties by update id (ascending);
    # keep the top fraction, then drop those below the minimum score or below
    # relative_score_bps of the best median.
    ranked: DynArray[uint256, MAX_UPDATES] = []
    medians: DynArray[uint256, MAX_UPDATES] = []
    for uid: uint256 in self.round_updates[round]:
        u: Update = self.updates[uid]
        if not u.final or self.status[u.provider] == NodeStatus.BLACKLISTED:
            continue
        ranked.append(uid)
        medians.append(u.median)
        j: uint256 = len(ranked) - 1
        for _k: uint256 in range(MAX_UPDATES):
            if j == 0 or medians[j - 1] >= u.median:
                break
            ranked[j] = ranked[j - 1]
            medians[j] = medians[j - 1]
            j -= 1
        ranked[j] = uid
        medians[j] = u.median

    top: uint256 = (len(ranked) * self.params.qualify_top_bps + BPS - 1) // BPS
    threshold: uint256 = self.params.min_score
    if len(ranked) > 0:
        threshold = max(threshold, medians[0] * self.params.relative_score_bps // BPS)
    chosen: DynArray[uint256, MAX_UPDATES] = []
    for i: uint256 in range(MAX_UPDATES):
        if i >= len(ranked) or len(chosen) >= top:
            break
        if medians[i] >= threshold:
            chosen.append(ranked[i])
            self.updates[ranked[i]].qualified = True

    self.qualified[round] = chosen
    self.phase = Phase.AGGREGATING
    log AggregationTriggered(round=round, num_final=self.num_final, num_qualified=len(chosen))
    if len(chosen) == 0:
        log RoundSkipped(round=round)
        self._start_round(self.committees[round], self.models[round].blob_hash, self.models[round].uri, ModelOrigin.CARRIED_OVER)


@external
def propose_model(round: uint256, blob_hash: bytes32, uri: String[MAX_URI]):
    """
    @notice A committee member proposes the hash of the aggregate of the
            qualified updates. The model is accepted when more than half of the
            committee propose the same hash; then the next committee is elected,
            the round reward is paid and the next round starts.
    @dev Emits ModelProposed, then on acceptance ModelAccepted, RewardPaid,
         CommitteeElected and RoundStarted.
    """
    assert self.status[msg.sender] == NodeStatus.ADMITTED, "node is not admitted"
    self._check_round(round)
    assert self.in_committee[round][msg.sender], "caller is not a committee member"
    assert self.phase == Phase.AGGREGATING, "round is not aggregating yet"
    assert self.proposal_of[round][msg.sender] == empty(bytes32), "member already proposed a model"
    assert blob_hash != empty(bytes32), "blob hash is empty"
    self.proposal_of[round][msg.sender] = blob_hash
    count: uint256 = self.proposal_count[round][blob_hash] + 1
    self.proposal_count[round][blob_hash] = count
    if count == 1:
        self.proposal_uri[round][blob_hash] = uri
    log ModelProposed(round=round, member=msg.sender, blob_hash=blob_hash, votes_for_hash=count)
    if 2 * count > len(self.committees[round]):
        self._accept(round, blob_hash)


@internal
def _accept(round: uint256, blob_hash: bytes32):
    uri: String[MAX_URI] = self.proposal_uri[round][blob_hash]
    log ModelAccepted(round=round, blob_hash=blob_hash, uri=uri)
    self.blob_used[blob_hash] = True
    self._pay_rewards(round, blob_hash)
    elected: DynArray[address, MAX_COMMITTEE] = self._elect(round, round, self._seed(round))
    self._start_round(self._successor_committee(round, elected), blob_hash, uri, ModelOrigin.AGGREGATED)

# ---------------------------------------------------------------- election


@internal
@view
def _seed(round: uint256) -> bytes32:
    # The round's shared randomness: the XOR of the salts its trainers
    # committed to before any was revealed. Neither the caller nor the time
    # of the call changes it.
    return keccak256(abi_encode(self.entropy[round], round))


@internal
@view
def _check_committee_size(n: uint256, params: Params):
    assert n >= params.min_committee_size and n > 0, "committee smaller than the minimum committee size"
    assert n <= params.committee_size, "committee larger than committee size"
    assert n % 2 == 1, "committee size must be odd"


@internal
@view
def _candidates(source_round: uint256, exclude_round: uint256) -> DynArray[uint256, MAX_UPDATES]:
    # Qualified updates of source_round, best median first, whose providers
    # are still admitted and did not serve in exclude_round.
    out: DynArray[uint256, MAX_UPDATES] = []
    for uid: uint256 in self.qualified[source_round]:
        p: address = self.updates[uid].provider
        if self.status[p] == NodeStatus.ADMITTED and not self.in_committee[exclude_round][p]:
            out.append(uid)
    return out


@internal
@view
def _elect(source_round: uint256, exclude_round: uint256, seed: bytes32) -> DynArray[address, MAX_COMMITTEE]:
    # Orders the candidate updates by the election mode, then takes the
    # providers of the first m: M, or the largest odd number of candidates
    # (odd, so that half of a committee never holds the median); none if that
    # is below the minimum committee size. SCORE keeps the median ranking.
    cands: DynArray[uint256, MAX_UPDATES] = self._candidates(source_round, exclude_round)
    n: uint256 = len(cands)
    m: uint256 = min(self.params.committee_size, n)
    if m % 2 == 0 and m > 0:
        m -= 1
    if m < self.params.min_committee_size:
        return []
    if self.params.election == Election.RANDOM:
        # Partial Fisher-Yates shuffle driven by keccak256(seed, i).
        for i: uint256 in range(MAX_COMMITTEE):
            if i >= m:
                break
            j: uint256 = i + convert(keccak256(abi_encode(seed, i)), uint256) % (n - i)
            tmp: uint256 = cands[i]
            cands[i] = cands[j]
            cands[j] = tmp
    elif self.params.election == Election.MULTI_FACTOR:
        # Stable insertion sort by score_weight * median + factor_weight * factor,
        # descending; equal weights keep the median ranking.
        weights: DynArray[uint256, MAX_UPDATES] = []
        for i: uint256 in range(MAX_UPDATES):
            if i >= n:
                break
            uid: uint256 = cands[i]
            w: uint256 = self.params.score_weight_bps * self.updates[uid].median + self.params.factor_weight_bps * self.factor[self.updates[uid].provider]
            weights.append(w)
            j: uint256 = i
            for _k: uint256 in range(MAX_UPDATES):
                if j == 0 or weights[j - 1] >= w:
                    break
                weights[j] = weights[j - 1]
                cands[j] = cands[j - 1]
                j -= 1
            weights[j] = w
            cands[j] = uid
    elected: DynArray[address, MAX_COMMITTEE] = []
    for i: uint256 in range(MAX_COMMITTEE):
        if i >= m:
            break
        elected.append(self.updates[cands[i]].provider)
    return elected


@internal
def _successor_committee(round: uint256, elected: DynArray[address, MAX_COMMITTEE]) -> DynArray[address, MAX_COMMITTEE]:
    # With too few eligible candidates the current committee serves again
    # rather than stalling the network or shrinking below the minimum.
    carried: bool = len(elected) == 0
    chosen: DynArray[address, MAX_COMMITTEE] = elected
    if carried:
        chosen = self.committees[round]
    log CommitteeElected(round=round + 1, members=chosen, carried_over=carried)
    return chosen

# ---------------------------------------------------------------- rewards


@internal
def _pay_rewards(round: uint256, blob_hash: bytes32):
    # The round reward (capped by the pool) is split: committee_share_bps to the
    # members who proposed the accepted hash, equally; the rest to the providers
    # of qualified updates in proportion to their median scores. Shares are
    # rounded down; the unpaid wei stay in the pool.
    reward: uint256 = min(self.params.round_reward, self.reward_pool)
    if reward == 0:
        return
    committee_part: uint256 = reward * self.params.committee_share_bps // BPS
    provider_part: uint256 = reward - committee_part
    qual: DynArray[uint256, MAX_UPDATES] = self.qualified[round]
    total_score: uint256 = 0
    for uid: uint256 in qual:
        total_score += self.updates[uid].median
    paid: uint256 = 0
    for uid: uint256 in qual:
        u: Update = self.updates[uid]
        if self.status[u.provider] == NodeStatus.BLACKLISTED:
            continue
        share: uint256 = 0
        if total_score == 0:
            share = provider_part // len(qual)
        else:
            share = provider_part * u.median // total_score
        if share > 0:
            self.balances[u.provider] += share
            paid += share
            log RewardPaid(round=round, node=u.provider, amount=share, for_committee=False)
    agreeing: uint256 = self.proposal_count[round][blob_hash]
    each: uint256 = committee_part // agreeing
    if each > 0:
        for member: address in self.committees[round]:
            if self.proposal_of[round][member] == blob_hash and self.status[member] != NodeStatus.BLACKLISTED:
                self.balances[member] += each
                paid += each
                log RewardPaid(round=round, node=member, amount=each, for_committee=True)
    self.reward_pool -= paid

# ---------------------------------------------------------------- rounds and failures


@internal
def _start_round(committee: DynArray[address, MAX_COMMITTEE], blob_hash: bytes32, uri: String[MAX_URI], origin: ModelOrigin):
    new_round: uint256 = self.current_round + 1
    self.committees[new_round] = committee
    for a: address in committee:
        self.in_committee[new_round][a] = True
    self.models[new_round] = Model(blob_hash=blob_hash, uri=uri, block=block.number, origin=origin)
    self.current_round = new_round
    self.phase = Phase.COMMIT
    self.round_start_block = block.number
    self.phase_start_block = block.number
    self.num_commits = 0
    self.num_final = 0
    self.close_cursor = 0
    log RoundStarted(round=new_round, blob_hash=blob_hash, origin=origin)


@internal
@view
def _check_round_expired(round: uint256):
    self._check_round(round)
    assert block.number >= self.round_start_block + self.params.round_deadline_blocks, "round deadline not reached"


@external
def replace_committee(round: uint256, members: DynArray[address, MAX_COMMITTEE]):
    """
    @notice After the round deadline, a manager replaces a committee that did
            not finish. The round is abandoned and the next round starts with
            the same model and the given committee (admitted nodes, none of
            whom served in the failed committee).
    """
    assert self.is_manager[msg.sender], "caller is not a manager"
    self._check_round_expired(round)
    self._check_committee_size(len(members), self.params)
    for i: uint256 in range(MAX_COMMITTEE):
        if i >= len(members):
            break
        a: address = members[i]
        assert self.status[a] == NodeStatus.ADMITTED, "committee member is not admitted"
        assert not self.in_committee[round][a], "member served in the failed committee"
        for j: uint256 in range(MAX_COMMITTEE):
            if j >= i:
                break
            assert members[j] != a, "duplicate committee member"
    log CommitteeReplaced(round=round, by=msg.sender, members=members)
    self._start_round(members, self.models[round].blob_hash, self.models[round].uri, ModelOrigin.CARRIED_OVER)


@external
def reelect_committee(round: uint256):
    """
    @notice After the round deadline, any admitted node replaces a committee
            that did not finish by electing one from the previous round's
            qualified providers (excluding the failed committee), seeded by
            the round's shared randomness. The next round starts with the
            same model.
    """
    assert self.status[msg.sender] == NodeStatus.ADMITTED, "node is not admitted"
    self._check_round_expired(round)
    assert round > 0, "no previous round to elect from: a manager must replace the committee"
    elected: DynArray[address, MAX_COMMITTEE] = self._elect(round - 1, round, self._seed(round))
    assert len(elected) > 0, "too few eligible candidates: a manager must replace the committee"
    log CommitteeReplaced(round=round, by=msg.sender, members=elected)
    self._start_round(elected, self.models[round].blob_hash, self.models[round].uri, ModelOrigin.CARRIED_OVER)


@external
def failback(target_round: uint256):
    """
    @notice A manager rolls the global model back to the model of any earlier
            round. The current round is abandoned; the next round starts from
            that model with the current committee.
    """
    assert self.is_manager[msg.sender], "caller is not a manager"
    assert target_round <= self.current_round, "no model for that round yet"
    m: Model = self.models[target_round]
    log Failback(from_round=self.current_round, to_round=target_round, blob_hash=m.blob_hash, by=msg.sender)
    self._start_round(self.committees[self.current_round], m.blob_hash, m.uri, ModelOrigin.FAILBACK)

# ---------------------------------------------------------------- views


@external
@view
def get_model(round: uint256) -> Model:
    """
    @notice The global model of a round (G_round).
    """
    assert round <= self.current_round, "no model for that round yet"
    return self.models[round]


@external
@view
def get_committee(round: uint256) -> DynArray[address, MAX_COMMITTEE]:
    """
    @notice The committee of a round.
    """
    return self.committees[round]


@external
@view
def is_committee_member(round: uint256, node: address) -> bool:
    return self.in_committee[round][node]


@external
@view
def get_update(update_id: uint256) -> Update:
    """
    @notice One update with its vote count, median and verdict.
    """
    assert update_id < self.num_updates, "unknown update"
    return self.updates[update_id]


@external
@view
def get_votes(update_id: uint256) -> (DynArray[address, MAX_COMMITTEE], DynArray[uint256, MAX_COMMITTEE]):
    """
    @notice The members who scored an update and their scores, in vote order.
    """
    assert update_id < self.num_updates, "unknown update"
    return self.vote_members[update_id], self.vote_scores[update_id]


@external
@view
def get_round_updates(round: uint256) -> DynArray[uint256, MAX_UPDATES]:
    return self.round_updates[round]


@external
@view
def get_round_update_records(round: uint256) -> DynArray[Update, MAX_UPDATES]:
    """
    @notice Every update of a round in submission order (one call instead of one per update).
    """
    out: DynArray[Update, MAX_UPDATES] = []
    for uid: uint256 in self.round_updates[round]:
        out.append(self.updates[uid])
    return out


@external
@view
def get_qualified(round: uint256) -> DynArray[uint256, MAX_UPDATES]:
    """
    @notice The qualified updates of a round, best median first.
    """
    return self.qualified[round]


@external
@view
def get_managers() -> DynArray[address, MAX_MANAGERS]:
    return self.managers


@external
@view
def get_proposal(round: uint256, member: address) -> bytes32:
    return self.proposal_of[round][member]


@external
@view
def has_submitted(round: uint256, node: address) -> bool:
    return self.submitted[round][node]


@external
@view
def member_has_voted(update_id: uint256, member: address) -> bool:
    return self.has_voted[update_id][member]
