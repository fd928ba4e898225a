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
        Storage is laid out for gas (docs/gas.md): a vote is a 20-bit field,
        twelve to a storage word; an update's verdict (median, final,
        qualified, vote count) a 32-bit field, eight to a word; an update is
        two words (its blob hash, and provider, sample count and round under
        the blob hash); a round's updates have consecutive ids; a node's
        commitment and its commit and reveal marks share one reused word.
        Medians are not sorted on chain: whoever closes scoring claims each
        update's lower median and the contract checks the claim by counting
        the votes below and at it.
"""

# ---------------------------------------------------------------- constants

MAX_MANAGERS: constant(uint256) = 16
# Nodes admitted, or factors attested, by one council decision.
MAX_NODES_PER_DECISION: constant(uint256) = 64
MAX_COMMITTEE: constant(uint256) = 255
MAX_UPDATES: constant(uint256) = 320
MAX_BATCH: constant(uint256) = 320
MAX_URI: constant(uint256) = 256
SCORE_ONE: constant(uint256) = 1_000_000
BPS: constant(uint256) = 10_000

# A vote: score + 1 in a 20-bit field (0 = no vote), eleven to a word; the
# member in seat i (its committee index) keeps its word w in
# votes[i * WORDS_PER_MEMBER + w], reused by whoever holds seat i later.
VOTE_BITS: constant(uint256) = 20
VOTES_PER_WORD: constant(uint256) = 11
VOTE_MASK: constant(uint256) = 2**20 - 1
# A member's vote word is reused from round to round: fields in bits 0-219,
# the round it belongs to (round + 1) in bits 224-255.
VOTE_FIELDS: constant(uint256) = 2**220 - 1
ROUND_TAG_SHIFT: constant(uint256) = 224
WORDS_PER_MEMBER: constant(uint256) = 30
MAX_VOTE_WORDS: constant(uint256) = 7_650
# A verdict: median (bits 0-19), final (bit 20), qualified (bit 21), number of
# votes (bits 22-31), eight to a word.
VERDICT_BITS: constant(uint256) = 32
VERDICTS_PER_WORD: constant(uint256) = 8
VERDICT_MASK: constant(uint256) = 2**32 - 1
FINAL_BIT: constant(uint256) = 2**20
QUALIFIED_BIT: constant(uint256) = 2**21
VOTES_SHIFT: constant(uint256) = 22
# The qualified updates of a round: 16-bit positions in the round, best first.
RANK_BITS: constant(uint256) = 16
RANKS_PER_WORD: constant(uint256) = 16
RANK_MASK: constant(uint256) = 2**16 - 1
# An update record (blob_record[blob hash]): provider (bits 0-159), sample
# count (160-223), round (224-255). A global model's hash holds MODEL_RECORD.
ADDRESS_MASK: constant(uint256) = 2**160 - 1
SAMPLES_LIMIT: constant(uint256) = 2**64
MODEL_RECORD: constant(uint256) = 1
# A node's commit word: the commitment's upper 224 bits, bit 31 set once it
# revealed, and bits 0-30 its round + 1.
ROUND_LIMIT: constant(uint256) = 2**31 - 1
COMMIT_ROUND_MASK: constant(uint256) = 2**31 - 1
REVEALED_BIT: constant(uint256) = 2**31
LOW_32: constant(uint256) = 2**32 - 1
STATUS_MASK: constant(uint256) = 2**8 - 1
# A round's span (round_span[round]): first update id (bits 0-127), number of
# revealed updates (128-191), number of qualified updates (192-255).
LOW_64: constant(uint256) = 2**64 - 1
LOW_128: constant(uint256) = 2**128 - 1

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

interface Council:
    def target() -> address: view
    def get_managers() -> DynArray[address, MAX_MANAGERS]: view


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
council: public(address)  # the managers' council: the only governance caller
# A node's word: its status (bits 0-7), and its seat on the committee of the
# round it last served in: round + 1 (bits 8-39) and index + 1 (bits 40-55).
node_word: HashMap[address, uint256]
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
votes_cast: public(uint256)

# G_round: its blob hash, and block | origin << 128; a blob's URI is kept
# once per hash (the first proposal of that hash names it).
model_hash: HashMap[uint256, bytes32]
model_meta: HashMap[uint256, uint256]
uri_of: HashMap[bytes32, String[MAX_URI]]
committees: HashMap[uint256, DynArray[address, MAX_COMMITTEE]]

commit_word: HashMap[address, uint256]
round_span: HashMap[uint256, uint256]
update_hash: HashMap[uint256, bytes32]
blob_record: HashMap[bytes32, uint256]
entropy: public(HashMap[uint256, uint256])

votes: HashMap[uint256, uint256]
verdicts: HashMap[uint256, HashMap[uint256, uint256]]
qualified_ranks: HashMap[uint256, HashMap[uint256, uint256]]

# The proposal of the member in seat i of the current round, reused like the
# vote words: the hash's upper 224 bits | round + 1 (ModelProposed keeps the
# whole hash for the record).
proposal_word: HashMap[uint256, uint256]
proposal_count: public(HashMap[uint256, HashMap[bytes32, uint256]])

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

event FactorAttested:
    node: indexed(address)
    value: uint256

event Funded:
    sender: indexed(address)
    amount: uint256

event Withdrawn:
    node: indexed(address)
    amount: uint256
    recipient: address

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
    first_word: uint256
    words: DynArray[uint256, WORDS_PER_MEMBER]

event ScoringComplete:
    round: indexed(uint256)
    num_votes: uint256

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
    council: address,
    founders: DynArray[address, MAX_MANAGERS],
    first_committee: DynArray[address, MAX_COMMITTEE],
    genesis_hash: bytes32,
    genesis_uri: String[MAX_URI],
    params: Params,
):
    """
    @notice Sets the council, the founders, the first committee, the genesis
            model (round 0) and the protocol parameters. Founders and
            first-committee members are admitted without a fee.
    @param council The managers' council (contracts/Council.vy), deployed
           just before for this contract's address.
    @param founders The managers' own nodes.
    @param first_committee The committee of round 0 (trusted to be mostly honest).
    @param genesis_hash sha256 of the initial model blob.
    @param genesis_uri Where the initial model blob can be fetched.
    @param params Protocol parameters; see docs/protocol.md.
    """
    assert staticcall Council(council).target() == self, "the council governs another contract"
    self._require(params.committee_size % 2 == 1, "committee size must be odd")
    self._require(params.committee_size <= MAX_COMMITTEE, "committee size above MAX_COMMITTEE")
    self._require(params.min_committee_size % 2 == 1, "minimum committee size must be odd")
    self._require(params.min_committee_size <= params.committee_size, "minimum committee size above committee size")
    self._require(params.updates_per_round > 0, "updates per round must be positive")
    self._require(params.updates_per_round <= MAX_UPDATES, "updates per round above MAX_UPDATES")
    self._require(params.qualify_top_bps > 0 and params.qualify_top_bps <= BPS, "qualify_top_bps must be in 1..10000")
    self._require(params.min_score <= SCORE_ONE, "min score above 1.0")
    self._require(params.relative_score_bps <= BPS, "relative_score_bps above 10000")
    self._require(params.score_weight_bps + params.factor_weight_bps == BPS, "election weights must add up to 10000")
    self._require(params.committee_share_bps <= BPS, "committee share above 10000")
    self._require(params.commit_deadline_blocks > 0 and params.reveal_deadline_blocks > 0 and params.score_deadline_blocks > 0, "phase deadlines must be positive")
    self._require(params.round_deadline_blocks >= params.commit_deadline_blocks + params.reveal_deadline_blocks + params.score_deadline_blocks, "round deadline before the phase deadlines add up")
    self._require(genesis_hash != empty(bytes32), "genesis hash is empty")
    self._check_committee_size(len(first_committee), params)

    self.params = params
    self.council = council
    for m: address in founders:
        assert m != empty(address), "founder is the zero address"
        self._set_status(m, NodeStatus.ADMITTED)
    for i: uint256 in range(MAX_COMMITTEE):
        if i >= len(first_committee):
            break
        c: address = first_committee[i]
        assert c != empty(address), "committee member is the zero address"
        assert self._seat(0, c) == 0, "duplicate committee member"
        self.node_word[c] = convert(NodeStatus.ADMITTED, uint256) | (1 << 8) | ((i + 1) << 40)

    self.committees[0] = first_committee
    self.model_hash[0] = genesis_hash
    self.model_meta[0] = block.number | (convert(ModelOrigin.GENESIS, uint256) << 128)
    self.uri_of[genesis_hash] = genesis_uri
    self.blob_record[genesis_hash] = MODEL_RECORD
    self.phase = Phase.COMMIT
    self.round_start_block = block.number
    self.phase_start_block = block.number
    log RoundStarted(round=0, blob_hash=genesis_hash, origin=ModelOrigin.GENESIS)
    log CommitteeElected(round=0, members=first_committee, carried_over=False)

@internal
@view
def _status(node: address) -> NodeStatus:
    return convert(self.node_word[node] & STATUS_MASK, NodeStatus)


@internal
def _set_status(node: address, st: NodeStatus):
    self.node_word[node] = (self.node_word[node] & ~STATUS_MASK) | convert(st, uint256)


@internal
@view
def _seat(round: uint256, node: address) -> uint256:
    # Seat index + 1 of `node` on the committee of `round`, 0 if none: the
    # current round (or the round it last served in) only.
    word: uint256 = self.node_word[node]
    if (word >> 8) & LOW_32 != round + 1:
        return 0
    return (word >> 40) & RANK_MASK


@external
@view
def status(node: address) -> NodeStatus:
    """
    @notice A node's admission state.
    """
    return self._status(node)


@internal
@pure
def _require(ok: bool, reason: String[96]):
    # One copy of the revert code for every check outside a loop: the
    # contract must fit in 24,576 bytes (EIP-170).
    assert ok, reason

# ---------------------------------------------------------------- admission


@payable
@external
def apply():
    """
    @notice A new node asks to join, paying exactly the permission fee into escrow.
    @dev Emits NodeApplied. The fee goes to the managers when a manager admits the node.
    """
    self._require(self._status(msg.sender) != NodeStatus.BLACKLISTED, "node is blacklisted")
    self._require(self._status(msg.sender) == empty(NodeStatus), "node already applied or admitted")
    self._require(msg.value == self.params.permission_fee, "value must equal the permission fee")
    self._set_status(msg.sender, NodeStatus.APPLIED)
    self.escrow[msg.sender] = msg.value
    log NodeApplied(node=msg.sender, fee=msg.value)


@external
def withdraw_application():
    """
    @notice An applicant not yet admitted takes its application back; the fee
            is credited to its balance.
    """
    self._require(self._status(msg.sender) == NodeStatus.APPLIED, "no pending application")
    refund: uint256 = self._release_escrow(msg.sender)
    self._set_status(msg.sender, empty(NodeStatus))
    log ApplicationWithdrawn(node=msg.sender, refund=refund)


@external
def admit(nodes: DynArray[address, MAX_NODES_PER_DECISION]):
    """
    @notice The council admits nodes. With a non-zero permission fee each node
            must have applied; each fee is shared among the managers to the wei.
    @dev Emits NodeAdmitted per node and one FeeShared per manager paid.
    """
    self._only_council()
    managers: DynArray[address, MAX_MANAGERS] = staticcall Council(self.council).get_managers()
    for node: address in nodes:
        self._require(node != empty(address), "node is the zero address")
        st: NodeStatus = self._status(node)
        self._require(st != NodeStatus.BLACKLISTED, "node is blacklisted")
        self._require(st != NodeStatus.ADMITTED and st != NodeStatus.LEFT, "node already admitted")
        self._require(st == NodeStatus.APPLIED or self.params.permission_fee == 0, "node has not applied and paid the fee")
        fee: uint256 = self.escrow[node]
        self.escrow[node] = 0
        self._share_fee(fee, managers)
        self._set_status(node, NodeStatus.ADMITTED)
        log NodeAdmitted(node=node, by=msg.sender, fee=fee)


@external
def blacklist(node: address):
    """
    @notice The council blacklists a node: it can no longer submit, vote, be
            elected or be admitted again. A pending application fee is refunded
            to its balance. Votes and updates it already recorded stay.
    """
    self._only_council()
    self._require(self._status(node) != NodeStatus.BLACKLISTED, "node already blacklisted")
    if self._status(node) == NodeStatus.APPLIED:
        self._release_escrow(node)
    self._set_status(node, NodeStatus.BLACKLISTED)
    log NodeBlacklisted(node=node, by=msg.sender)


@external
def leave():
    """
    @notice An admitted node leaves. Its recorded update and votes stay valid;
            it can rejoin later without paying the fee again.
    """
    self._require(self._status(msg.sender) == NodeStatus.ADMITTED, "node is not admitted")
    self._set_status(msg.sender, NodeStatus.LEFT)
    log NodeLeft(node=msg.sender)


@external
def rejoin():
    """
    @notice A node that left comes back.
    """
    self._require(self._status(msg.sender) == NodeStatus.LEFT, "node has not left")
    self._set_status(msg.sender, NodeStatus.ADMITTED)
    log NodeRejoined(node=msg.sender)


@external
def attest_factors(nodes: DynArray[address, MAX_NODES_PER_DECISION], values: DynArray[uint256, MAX_NODES_PER_DECISION]):
    """
    @notice The council attests the extra factor (for example normalised
            bandwidth) that multi-factor election weighs; fixed-point like
            scores. A node cannot set its own.
    """
    self._only_council()
    self._require(len(nodes) == len(values), "one factor per node")
    for i: uint256 in range(MAX_NODES_PER_DECISION):
        if i >= len(nodes):
            break
        self._require(self._status(nodes[i]) == NodeStatus.ADMITTED, "node is not admitted")
        self._require(values[i] <= SCORE_ONE, "factor above 1.0")
        self.factor[nodes[i]] = values[i]
        log FactorAttested(node=nodes[i], value=values[i])


@payable
@external
def fund():
    """
    @notice Anyone adds native value to the reward pool paid out per round.
    """
    self._require(msg.value > 0, "nothing to fund")
    self.reward_pool += msg.value
    log Funded(sender=msg.sender, amount=msg.value)


@external
@nonreentrant
def withdraw(recipient: address):
    """
    @notice A node withdraws its whole balance (fees, rewards, refunds) to
            ``recipient``: itself, or any other address it names.
    @dev The balance is zeroed before the transfer, which forwards all
         remaining gas so that contract wallets can receive it; the lock
         refuses re-entry.
    """
    amount: uint256 = self.balances[msg.sender]
    self._require(amount > 0, "nothing to withdraw")
    self.balances[msg.sender] = 0
    raw_call(recipient, b"", value=amount)
    log Withdrawn(node=msg.sender, amount=amount, recipient=recipient)


@internal
def _release_escrow(node: address) -> uint256:
    amount: uint256 = self.escrow[node]
    self.escrow[node] = 0
    self.balances[node] += amount
    return amount


@internal
def _only_council():
    self._require(msg.sender == self.council, "caller is not the council")


@internal
def _share_fee(fee: uint256, managers: DynArray[address, MAX_MANAGERS]):
    # Equal shares; the first (fee mod n) managers get one extra wei so that
    # the whole fee is paid out.
    n: uint256 = len(managers)
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
            self.balances[managers[i]] += amount
            log FeeShared(manager=managers[i], amount=amount)

# ---------------------------------------------------------------- submission


@internal
@view
def _check_round(round: uint256):
    self._require(round <= self.current_round, "future round")
    self._require(round == self.current_round, "stale round")


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
    self._require(self._status(msg.sender) == NodeStatus.ADMITTED, "node is not admitted")
    self._check_round(round)
    self._require(self.phase == phase, "not this phase of the round")


@internal
@pure
def _span_first(span: uint256) -> uint256:
    return span & LOW_128


@internal
@pure
def _span_count(span: uint256) -> uint256:
    return (span >> 128) & LOW_64


@external
def commit_update(round: uint256, commitment: bytes32):
    """
    @notice An admitted node outside the committee commits to its local update
            for the current round, without showing it: commitment =
            keccak256(abi_encode(sender, round, blob_hash, n_samples, salt)).
            Commitments close when K have arrived or when a node closes the
            phase after the commit deadline; only then are blobs uploaded and
            revealed, so nobody can copy an update in time to commit to it.
    @dev One commitment per node per round; the contract keeps its upper 224
         bits (a second preimage still takes about 2**224 hashes). Emits
         UpdateCommitted.
    """
    self._check_phase(round, Phase.COMMIT)
    self._require(self._seat(round, msg.sender) == 0, "committee members do not train in their round")
    self._require(self.commit_word[msg.sender] & COMMIT_ROUND_MASK != round + 1, "node already committed an update this round")
    self._require(commitment != empty(bytes32), "commitment is empty")
    self.commit_word[msg.sender] = (convert(commitment, uint256) & ~LOW_32) | (round + 1)
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
    @return The update id. The updates of a round have consecutive ids.
    @dev A blob hash can be used once ever (no update or global model twice).
         Scoring starts when every commitment is revealed or when a node
         closes the phase after the reveal deadline. Emits UpdateSubmitted.
    """
    self._check_phase(round, Phase.REVEAL)
    word: uint256 = self.commit_word[msg.sender]
    self._require(word & (REVEALED_BIT | COMMIT_ROUND_MASK) != REVEALED_BIT | (round + 1), "node already revealed its update this round")
    opened: uint256 = convert(keccak256(abi_encode(msg.sender, round, blob_hash, n_samples, salt)), uint256)
    self._require(word == (opened & ~LOW_32) | (round + 1), "reveal does not match this node's commitment")
    self._require(blob_hash != empty(bytes32), "blob hash is empty")
    self._require(self.blob_record[blob_hash] == 0, "blob already used")
    self._require(n_samples > 0, "sample count must be positive")
    self._require(n_samples < SAMPLES_LIMIT, "sample count above 2**64")

    update_id: uint256 = self.num_updates
    self.num_updates = update_id + 1
    span: uint256 = self.round_span[round]
    revealed: uint256 = self._span_count(span) + 1
    if revealed == 1:
        span = update_id
    self.round_span[round] = (span & ~(LOW_64 << 128)) | (revealed << 128)
    self.update_hash[update_id] = blob_hash
    self.blob_record[blob_hash] = convert(msg.sender, uint256) | (n_samples << 160) | (round << 224)
    self.commit_word[msg.sender] = word | REVEALED_BIT
    self.entropy[round] = self.entropy[round] ^ convert(salt, uint256)
    log UpdateSubmitted(round=round, update_id=update_id, provider=msg.sender, blob_hash=blob_hash, n_samples=n_samples)
    if revealed == self.num_commits:
        self._set_phase(round, Phase.SCORING)
    return update_id

# ---------------------------------------------------------------- scoring


@external
def submit_scores(round: uint256, first_word: uint256, words: DynArray[uint256, WORDS_PER_MEMBER]):
    """
    @notice A committee member records its scores (accuracy on its own data,
            SCORE_ONE = 1.0) of this round's updates, packed: word i holds the
            votes on updates (first_word + i) * 11 to (first_word + i) * 11 + 10
            of the round (positions in submission order), one 20-bit field
            each from the lowest bits: score + 1, or 0 for no vote in this
            call. A member may vote in several calls, once per update.
    @dev One vote per member per update, until scoring begins to close. When
         every member has scored every update the transaction emits
         ScoringComplete and anyone may close scoring at once (close_phase);
         otherwise scoring closes after its deadline with the updates that
         a majority scored. No member decides alone which updates are
         aggregated. The words are kept for the current round only;
         ScoresSubmitted carries them for the record. Emits ScoresSubmitted.
    """
    self._check_phase(round, Phase.SCORING)
    self._require(self.close_cursor == 0, "scoring is closing")
    slot: uint256 = self._seat(round, msg.sender)
    self._require(slot != 0, "caller is not a committee member")
    self._require(len(words) > 0, "empty batch")
    n: uint256 = self._span_count(self.round_span[round])
    self._require(first_word + len(words) <= (n + VOTES_PER_WORD - 1) // VOTES_PER_WORD, "unknown update for this round")
    base: uint256 = (slot - 1) * WORDS_PER_MEMBER
    tag: uint256 = (round + 1) << ROUND_TAG_SHIFT
    count: uint256 = 0
    for i: uint256 in range(WORDS_PER_MEMBER):
        if i >= len(words):
            break
        w: uint256 = first_word + i
        fields: uint256 = min(n - w * VOTES_PER_WORD, VOTES_PER_WORD)
        new: uint256 = words[i]
        assert new >> (fields * VOTE_BITS) == 0, "unknown update for this round"
        stored: uint256 = self.votes[base + w]
        if stored & ~VOTE_FIELDS != tag:
            stored = 0
        for j: uint256 in range(VOTES_PER_WORD):
            v: uint256 = (new >> (j * VOTE_BITS)) & VOTE_MASK
            if v != 0:
                assert v <= SCORE_ONE + 1, "score out of range"
                assert (stored >> (j * VOTE_BITS)) & VOTE_MASK == 0, "member already voted on this update"
                count += 1
        self.votes[base + w] = stored | new | tag
    self._require(count > 0, "empty batch")
    cast: uint256 = self.votes_cast + count
    self.votes_cast = cast
    log ScoresSubmitted(round=round, member=msg.sender, count=count, first_word=first_word, words=words)
    if cast == n * len(self.committees[round]):
        log ScoringComplete(round=round, num_votes=cast)


@external
def close_phase(round: uint256, medians: DynArray[uint256, MAX_BATCH]):
    """
    @notice Any admitted node closes the current phase after its deadline, and
            scoring also as soon as every member has scored every update:
            commitments (if any arrived) go on to be revealed, reveals (if any
            arrived) go on to be scored, and scoring ends: every update with
            votes from more than half of the committee becomes final and
            aggregation triggers with the final updates.
    @param medians For a scoring close, the claimed lower median of each of
           the next len(medians) updates not yet examined (0 for an update
           without a quorum): the contract checks each claim by counting the
           update's votes below and at it and reverts on a wrong one. A large
           round closes over several transactions that each fit in a block.
           Ignored for the other phases.
    @dev No vote is accepted once a scoring close began, so a close that
         takes several transactions sees the same votes throughout. The call
         that examines the last update reverts if no update has a quorum (the
         committee then fails and is replaced after the round deadline).
    """
    self._require(self._status(msg.sender) == NodeStatus.ADMITTED, "node is not admitted")
    self._check_round(round)
    p: Phase = self.phase
    self._require(p != Phase.AGGREGATING, "round is aggregating")
    span: uint256 = self.round_span[round]
    n: uint256 = self._span_count(span)
    size: uint256 = len(self.committees[round])
    complete: bool = p == Phase.SCORING and self.votes_cast == n * size
    deadline: uint256 = self.params.score_deadline_blocks
    if p == Phase.COMMIT:
        deadline = self.params.commit_deadline_blocks
    elif p == Phase.REVEAL:
        deadline = self.params.reveal_deadline_blocks
    self._require(complete or block.number >= self.phase_start_block + deadline, "phase deadline not reached")
    if p == Phase.COMMIT:
        self._require(self.num_commits > 0, "no update was committed")
        self._set_phase(round, Phase.REVEAL)
        return
    if p == Phase.REVEAL:
        self._require(n > 0, "no update was revealed")
        self._set_phase(round, Phase.SCORING)
        return
    self._require(len(medians) > 0, "give the claimed median of at least one update")
    start: uint256 = self.close_cursor
    self._require(start + len(medians) <= n, "more medians than updates left to examine")
    stop: uint256 = start + len(medians)
    first: uint256 = self._span_first(span)
    final_count: uint256 = self.num_final
    # The committee's vote words for the current group of VOTES_PER_WORD updates.
    group: uint256 = max_value(uint256)
    column: DynArray[uint256, MAX_COMMITTEE] = []
    tag: uint256 = (round + 1) << ROUND_TAG_SHIFT
    # The verdict word being filled; written back before another is read.
    at: uint256 = max_value(uint256)
    word: uint256 = 0
    for i: uint256 in range(start, stop, bound=MAX_UPDATES):
        if i // VOTES_PER_WORD != group:
            group = i // VOTES_PER_WORD
            column = []
            for j: uint256 in range(MAX_COMMITTEE):
                if j >= size:
                    break
                v_word: uint256 = self.votes[j * WORDS_PER_MEMBER + group]
                if v_word & ~VOTE_FIELDS != tag:
                    v_word = 0
                column.append(v_word)
        offset: uint256 = (i % VOTES_PER_WORD) * VOTE_BITS
        claim: uint256 = medians[i - start]
        # A stored vote v means score v - 1: below the claim when v <= claim.
        num_votes: uint256 = 0
        below: uint256 = 0
        at_most: uint256 = 0
        # Unchecked: counts stay below MAX_COMMITTEE, and a claim of 2**256 - 1
        # wraps to 0 in claim + 1 and then fails the median check below.
        for v_word: uint256 in column:
            v: uint256 = (v_word >> offset) & VOTE_MASK
            if v != 0:
                num_votes = unsafe_add(num_votes, 1)
                if v <= claim:
                    below = unsafe_add(below, 1)
                if v <= unsafe_add(claim, 1):
                    at_most = unsafe_add(at_most, 1)
        verdict: uint256 = num_votes << VOTES_SHIFT
        if 2 * num_votes > size:
            # The lower median is the vote of rank (num_votes - 1) // 2 (from 0).
            rank: uint256 = (num_votes - 1) // 2
            assert below <= rank and rank < at_most, "claimed median is not the lower median of the update's votes"
            verdict = verdict | claim | FINAL_BIT
            final_count += 1
            log UpdateFinalized(round=round, update_id=first + i, median=claim, num_votes=num_votes)
        else:
            assert claim == 0, "an update without a quorum of votes takes 0 as its claimed median"
        if i // VERDICTS_PER_WORD != at:
            if at != max_value(uint256):
                self.verdicts[round][at] = word
            at = i // VERDICTS_PER_WORD
            word = self.verdicts[round][at]
        word = word | (verdict << ((i % VERDICTS_PER_WORD) * VERDICT_BITS))
    self.verdicts[round][at] = word
    self.num_final = final_count
    self.close_cursor = stop
    if stop == n:
        self._require(final_count > 0, "no update reached a quorum of votes")
        self._qualify(round)


# ---------------------------------------------------------------- aggregation


@internal
@view
def _record(update_id: uint256) -> uint256:
    return self.blob_record[self.update_hash[update_id]]


@internal
@view
def _provider(update_id: uint256) -> address:
    return convert(convert(self._record(update_id) & ADDRESS_MASK, uint160), address)


@internal
@view
def _verdict(round: uint256, pos: uint256) -> uint256:
    # The verdict field of the update at position `pos` of `round`.
    return (self.verdicts[round][pos // VERDICTS_PER_WORD] >> ((pos % VERDICTS_PER_WORD) * VERDICT_BITS)) & VERDICT_MASK


@internal
@pure
def _sort_descending(keys: DynArray[uint256, MAX_UPDATES]) -> DynArray[uint256, MAX_UPDATES]:
    # Heapsort with a min-heap, so that the smallest keys end up last:
    # O(n log n) whatever the order (an insertion sort of 320 keys in the
    # worst order does not fit in a block).
    a: DynArray[uint256, MAX_UPDATES] = keys
    n: uint256 = len(a)
    start: uint256 = n // 2
    end: uint256 = n
    for _step: uint256 in range(2 * MAX_UPDATES):
        if start > 0:
            start -= 1
        elif end > 1:
            end -= 1
            smallest: uint256 = a[0]
            a[0] = a[end]
            a[end] = smallest
        else:
            break
        # Sift a[start] down the heap a[0:end] (at most log2(MAX_UPDATES) levels).
        root: uint256 = start
        for _level: uint256 in range(10):
            child: uint256 = 2 * root + 1
            if child >= end:
                break
            if child + 1 < end and a[child + 1] < a[child]:
                child += 1
            if a[root] <= a[child]:
                break
            top: uint256 = a[root]
            a[root] = a[child]
            a[child] = top
            root = child
    return a


@internal
def _qualify(round: uint256):
    # Rank final updates by median (descending), ties by update id (ascending);
    # keep the top fraction, then drop those below the minimum score or below
    # relative_score_bps of the best median.
    span: uint256 = self.round_span[round]
    first: uint256 = self._span_first(span)
    n: uint256 = self._span_count(span)
    # Sort keys: median above, the complement of the position below (ties by id).
    keys: DynArray[uint256, MAX_UPDATES] = []
    for pos: uint256 in range(MAX_UPDATES):
        if pos >= n:
            break
        verdict: uint256 = self._verdict(round, pos)
        if verdict & FINAL_BIT == 0 or self._status(self._provider(first + pos)) == NodeStatus.BLACKLISTED:
            continue
        keys.append(((verdict & VOTE_MASK) << RANK_BITS) | (RANK_MASK - pos))
    keys = self._sort_descending(keys)
    ranked: DynArray[uint256, MAX_UPDATES] = []
    medians: DynArray[uint256, MAX_UPDATES] = []
    for key: uint256 in keys:
        ranked.append(RANK_MASK - (key & RANK_MASK))
        medians.append(key >> RANK_BITS)

    top: uint256 = (len(ranked) * self.params.qualify_top_bps + BPS - 1) // BPS
    threshold: uint256 = self.params.min_score
    if len(ranked) > 0:
        threshold = max(threshold, medians[0] * self.params.relative_score_bps // BPS)
    chosen: uint256 = 0
    ranks: uint256 = 0
    for i: uint256 in range(MAX_UPDATES):
        if i >= len(ranked) or chosen >= top:
            break
        if medians[i] < threshold:
            continue
        pos: uint256 = ranked[i]
        ranks = ranks | (pos << ((chosen % RANKS_PER_WORD) * RANK_BITS))
        chosen += 1
        if chosen % RANKS_PER_WORD == 0:
            self.qualified_ranks[round][chosen // RANKS_PER_WORD - 1] = ranks
            ranks = 0
        w: uint256 = pos // VERDICTS_PER_WORD
        self.verdicts[round][w] = self.verdicts[round][w] | (QUALIFIED_BIT << ((pos % VERDICTS_PER_WORD) * VERDICT_BITS))
    if chosen % RANKS_PER_WORD != 0:
        self.qualified_ranks[round][chosen // RANKS_PER_WORD] = ranks
    self.round_span[round] = (span & ~(LOW_64 << 192)) | (chosen << 192)
    self.phase = Phase.AGGREGATING
    log AggregationTriggered(round=round, num_final=self.num_final, num_qualified=chosen)
    if chosen == 0:
        log RoundSkipped(round=round)
        self._start_round(self.committees[round], self.model_hash[round], ModelOrigin.CARRIED_OVER)


@internal
@view
def _qualified(round: uint256) -> DynArray[uint256, MAX_UPDATES]:
    # The ids of the qualified updates of `round`, best median first.
    span: uint256 = self.round_span[round]
    first: uint256 = self._span_first(span)
    count: uint256 = span >> 192
    out: DynArray[uint256, MAX_UPDATES] = []
    ranks: uint256 = 0
    for i: uint256 in range(MAX_UPDATES):
        if i >= count:
            break
        if i % RANKS_PER_WORD == 0:
            ranks = self.qualified_ranks[round][i // RANKS_PER_WORD]
        out.append(first + ((ranks >> ((i % RANKS_PER_WORD) * RANK_BITS)) & RANK_MASK))
    return out


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
    self._require(self._status(msg.sender) == NodeStatus.ADMITTED, "node is not admitted")
    self._check_round(round)
    slot: uint256 = self._seat(round, msg.sender)
    self._require(slot != 0, "caller is not a committee member")
    self._require(self.phase == Phase.AGGREGATING, "round is not aggregating yet")
    self._require(self.proposal_word[slot - 1] & LOW_32 != round + 1, "member already proposed a model")
    self._require(blob_hash != empty(bytes32), "blob hash is empty")
    self.proposal_word[slot - 1] = self._proposal_word(round, blob_hash)
    count: uint256 = self.proposal_count[round][blob_hash] + 1
    self.proposal_count[round][blob_hash] = count
    if count == 1 and len(self.uri_of[blob_hash]) == 0:
        self.uri_of[blob_hash] = uri
    log ModelProposed(round=round, member=msg.sender, blob_hash=blob_hash, votes_for_hash=count)
    if 2 * count > len(self.committees[round]):
        self._accept(round, blob_hash)


@internal
@pure
def _proposal_word(round: uint256, blob_hash: bytes32) -> uint256:
    return (convert(blob_hash, uint256) & ~LOW_32) | (round + 1)


@internal
def _accept(round: uint256, blob_hash: bytes32):
    log ModelAccepted(round=round, blob_hash=blob_hash, uri=self.uri_of[blob_hash])
    if self.blob_record[blob_hash] == 0:
        self.blob_record[blob_hash] = MODEL_RECORD
    qualified: DynArray[uint256, MAX_UPDATES] = self._qualified(round)
    self._pay_rewards(round, blob_hash, qualified)
    elected: DynArray[address, MAX_COMMITTEE] = self._elect(round, qualified, round, self._seed(round))
    self._start_round(self._successor_committee(round, elected), blob_hash, ModelOrigin.AGGREGATED)

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
    self._require(n >= params.min_committee_size and n > 0, "committee smaller than the minimum committee size")
    self._require(n <= params.committee_size, "committee larger than committee size")
    self._require(n % 2 == 1, "committee size must be odd")


@internal
@view
def _elect(source_round: uint256, qualified: DynArray[uint256, MAX_UPDATES], exclude_round: uint256, seed: bytes32) -> DynArray[address, MAX_COMMITTEE]:
    # Candidates: the qualified updates of source_round (best median first)
    # whose providers are still admitted and did not serve in exclude_round.
    # Orders them by the election mode, then takes the providers of the first
    # m: M, or the largest odd number of candidates (odd, so that half of a
    # committee never holds the median); none if that is below the minimum
    # committee size. SCORE keeps the median ranking.
    first: uint256 = self._span_first(self.round_span[source_round])
    cands: DynArray[uint256, MAX_UPDATES] = []
    providers: DynArray[address, MAX_UPDATES] = []
    for uid: uint256 in qualified:
        p: address = self._provider(uid)
        if self._status(p) == NodeStatus.ADMITTED and self._seat(exclude_round, p) == 0:
            cands.append(uid)
            providers.append(p)
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
            tmp: address = providers[i]
            providers[i] = providers[j]
            providers[j] = tmp
    elif self.params.election == Election.MULTI_FACTOR:
        # By score_weight * median + factor_weight * factor, descending;
        # equal weights keep the median ranking.
        keys: DynArray[uint256, MAX_UPDATES] = []
        for i: uint256 in range(MAX_UPDATES):
            if i >= n:
                break
            w: uint256 = self.params.score_weight_bps * (self._verdict(source_round, cands[i] - first) & VOTE_MASK) + self.params.factor_weight_bps * self.factor[providers[i]]
            keys.append((w << RANK_BITS) | (RANK_MASK - i))
        keys = self._sort_descending(keys)
        ordered: DynArray[address, MAX_UPDATES] = []
        for key: uint256 in keys:
            ordered.append(providers[RANK_MASK - (key & RANK_MASK)])
        providers = ordered
    elected: DynArray[address, MAX_COMMITTEE] = []
    for i: uint256 in range(MAX_COMMITTEE):
        if i >= m:
            break
        elected.append(providers[i])
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
def _pay_rewards(round: uint256, blob_hash: bytes32, qualified: DynArray[uint256, MAX_UPDATES]):
    # The round reward (capped by the pool) is split: committee_share_bps to the
    # members who proposed the accepted hash, equally; the rest to the providers
    # of qualified updates in proportion to their median scores. Shares are
    # rounded down; the unpaid wei stay in the pool.
    reward: uint256 = min(self.params.round_reward, self.reward_pool)
    if reward == 0:
        return
    committee_part: uint256 = reward * self.params.committee_share_bps // BPS
    provider_part: uint256 = reward - committee_part
    first: uint256 = self._span_first(self.round_span[round])
    medians: DynArray[uint256, MAX_UPDATES] = []
    total_score: uint256 = 0
    for uid: uint256 in qualified:
        median: uint256 = self._verdict(round, uid - first) & VOTE_MASK
        medians.append(median)
        total_score += median
    paid: uint256 = 0
    for i: uint256 in range(MAX_UPDATES):
        if i >= len(qualified):
            break
        provider: address = self._provider(qualified[i])
        if self._status(provider) == NodeStatus.BLACKLISTED:
            continue
        share: uint256 = 0
        if total_score == 0:
            share = provider_part // len(qualified)
        else:
            share = provider_part * medians[i] // total_score
        if share > 0:
            self.balances[provider] += share
            paid += share
            log RewardPaid(round=round, node=provider, amount=share, for_committee=False)
    agreeing: uint256 = self.proposal_count[round][blob_hash]
    each: uint256 = committee_part // agreeing
    if each > 0:
        agreed: uint256 = self._proposal_word(round, blob_hash)
        committee: DynArray[address, MAX_COMMITTEE] = self.committees[round]
        for i: uint256 in range(MAX_COMMITTEE):
            if i >= len(committee):
                break
            member: address = committee[i]
            if self.proposal_word[i] == agreed and self._status(member) != NodeStatus.BLACKLISTED:
                self.balances[member] += each
                paid += each
                log RewardPaid(round=round, node=member, amount=each, for_committee=True)
    self.reward_pool -= paid

# ---------------------------------------------------------------- rounds and failures


@internal
def _start_round(committee: DynArray[address, MAX_COMMITTEE], blob_hash: bytes32, origin: ModelOrigin):
    new_round: uint256 = self.current_round + 1
    self._require(new_round < ROUND_LIMIT, "round numbers exhausted")
    self.committees[new_round] = committee
    for i: uint256 in range(MAX_COMMITTEE):
        if i >= len(committee):
            break
        member: address = committee[i]
        self.node_word[member] = (self.node_word[member] & STATUS_MASK) | ((new_round + 1) << 8) | ((i + 1) << 40)
    self.model_hash[new_round] = blob_hash
    self.model_meta[new_round] = block.number | (convert(origin, uint256) << 128)
    self.current_round = new_round
    self.phase = Phase.COMMIT
    self.round_start_block = block.number
    self.phase_start_block = block.number
    self.num_commits = 0
    self.num_final = 0
    self.close_cursor = 0
    self.votes_cast = 0
    log RoundStarted(round=new_round, blob_hash=blob_hash, origin=origin)


@internal
@view
def _check_round_expired(round: uint256):
    self._check_round(round)
    self._require(block.number >= self.round_start_block + self.params.round_deadline_blocks, "round deadline not reached")


@external
def replace_committee(round: uint256, members: DynArray[address, MAX_COMMITTEE]):
    """
    @notice After the round deadline, the council replaces a committee that
            did not finish. The round is abandoned and the next round starts
            with the same model and the given committee (admitted nodes, none
            of whom served in the failed committee).
    """
    self._only_council()
    self._check_round_expired(round)
    self._check_members(members, round, True)
    log CommitteeReplaced(round=round, by=msg.sender, members=members)
    self._start_round(members, self.model_hash[round], ModelOrigin.CARRIED_OVER)


@external
def reelect_committee(round: uint256):
    """
    @notice After the round deadline, any admitted node replaces a committee
            that did not finish by electing one from the previous round's
            qualified providers (excluding the failed committee), seeded by
            the round's shared randomness. The next round starts with the
            same model.
    """
    self._require(self._status(msg.sender) == NodeStatus.ADMITTED, "node is not admitted")
    self._check_round_expired(round)
    self._require(round > 0, "no previous round to elect from: a manager must replace the committee")
    elected: DynArray[address, MAX_COMMITTEE] = self._elect(round - 1, self._qualified(round - 1), round, self._seed(round))
    self._require(len(elected) > 0, "too few eligible candidates: a manager must replace the committee")
    log CommitteeReplaced(round=round, by=msg.sender, members=elected)
    self._start_round(elected, self.model_hash[round], ModelOrigin.CARRIED_OVER)


@external
def failback(target_round: uint256, members: DynArray[address, MAX_COMMITTEE]):
    """
    @notice The council rolls the global model back to the model of any
            earlier round. The current round is abandoned; the next round
            starts from that model with the given committee (admitted nodes;
            the client passes the current one to keep it), so recovery from a
            captured committee is one decision.
    """
    self._only_council()
    self._require(target_round <= self.current_round, "no model for that round yet")
    self._check_members(members, 0, False)
    target: bytes32 = self.model_hash[target_round]
    log Failback(from_round=self.current_round, to_round=target_round, blob_hash=target, by=msg.sender)
    self._start_round(members, target, ModelOrigin.FAILBACK)


@internal
@view
def _check_members(members: DynArray[address, MAX_COMMITTEE], failed_round: uint256, exclude_failed: bool):
    # A committee the council seats: admitted nodes, no duplicates, a valid
    # size, and (replacing a failed committee) none of its members.
    self._check_committee_size(len(members), self.params)
    for i: uint256 in range(MAX_COMMITTEE):
        if i >= len(members):
            break
        a: address = members[i]
        assert self._status(a) == NodeStatus.ADMITTED, "committee member is not admitted"
        assert not exclude_failed or self._seat(failed_round, a) == 0, "member served in the failed committee"
        for j: uint256 in range(MAX_COMMITTEE):
            if j >= i:
                break
            assert members[j] != a, "duplicate committee member"

# ---------------------------------------------------------------- views


@external
@view
def get_model(round: uint256) -> Model:
    """
    @notice The global model of a round (G_round).
    """
    self._require(round <= self.current_round, "no model for that round yet")
    blob_hash: bytes32 = self.model_hash[round]
    meta: uint256 = self.model_meta[round]
    return Model(blob_hash=blob_hash, uri=self.uri_of[blob_hash], block=meta & LOW_128, origin=convert(meta >> 128, ModelOrigin))


@external
@view
def get_committee(round: uint256) -> DynArray[address, MAX_COMMITTEE]:
    """
    @notice The committee of a round.
    """
    return self.committees[round]


@external
@view
def blob_used(blob_hash: bytes32) -> bool:
    """
    @notice Whether a blob hash was revealed as an update or accepted as a model.
    """
    return self.blob_record[blob_hash] != 0


@external
@view
def commitment(round: uint256, node: address) -> bytes32:
    """
    @notice The upper 224 bits of the commitment `node` made in `round` (the
            lower 32 zero); zero if none. Answers for the node's latest
            commitment only: an earlier round's reads as none.
    """
    word: uint256 = self.commit_word[node]
    if word & COMMIT_ROUND_MASK != round + 1:
        return empty(bytes32)
    return convert(word & ~LOW_32, bytes32)


@external
@view
def has_submitted(round: uint256, node: address) -> bool:
    """
    @notice Whether `node` revealed an update in `round`. Answers for the
            node's latest commitment only: an earlier round's reads as none.
    """
    return self.commit_word[node] & (REVEALED_BIT | COMMIT_ROUND_MASK) == REVEALED_BIT | (round + 1)


@internal
@view
def _update(update_id: uint256) -> Update:
    # num_votes is counted when scoring closes (0 before): the votes
    # themselves are in get_vote_words.
    record: uint256 = self._record(update_id)
    round: uint256 = record >> 224
    verdict: uint256 = self._verdict(round, update_id - self._span_first(self.round_span[round]))
    return Update(
        round=round,
        provider=convert(convert(record & ADDRESS_MASK, uint160), address),
        blob_hash=self.update_hash[update_id],
        n_samples=(record >> 160) & LOW_64,
        num_votes=verdict >> VOTES_SHIFT,
        median=verdict & VOTE_MASK,
        final=verdict & FINAL_BIT != 0,
        qualified=verdict & QUALIFIED_BIT != 0,
    )


@external
@view
def get_update(update_id: uint256) -> Update:
    """
    @notice One update with its vote count, median and verdict.
    """
    self._require(update_id < self.num_updates, "unknown update")
    return self._update(update_id)


@external
@view
def get_vote_words(round: uint256) -> DynArray[uint256, MAX_VOTE_WORDS]:
    """
    @notice Every vote of the current round as stored: for each committee
            member in committee order, ceil(n / 11) words of eleven 20-bit
            fields (score + 1, 0 for no vote) in bits 0-219, where n is the
            number of revealed updates. What a node needs to claim the medians
            when it closes scoring. Past rounds' votes are in their
            ScoresSubmitted events.
    """
    self._require(round == self.current_round, "votes are kept for the current round only (past rounds: ScoresSubmitted events)")
    n: uint256 = self._span_count(self.round_span[round])
    words: uint256 = (n + VOTES_PER_WORD - 1) // VOTES_PER_WORD
    tag: uint256 = (round + 1) << ROUND_TAG_SHIFT
    out: DynArray[uint256, MAX_VOTE_WORDS] = []
    for j: uint256 in range(MAX_COMMITTEE):
        if j >= len(self.committees[round]):
            break
        for w: uint256 in range(WORDS_PER_MEMBER):
            if w >= words:
                break
            v_word: uint256 = self.votes[j * WORDS_PER_MEMBER + w]
            if v_word & ~VOTE_FIELDS != tag:
                v_word = 0
            out.append(v_word & VOTE_FIELDS)
    return out


@external
@view
def round_updates(round: uint256) -> (uint256, uint256):
    """
    @notice The first update id of a round and its number of updates: the
            round's ids are consecutive, in submission order.
    """
    span: uint256 = self.round_span[round]
    return self._span_first(span), self._span_count(span)


@external
@view
def get_round_update_records(round: uint256) -> DynArray[Update, MAX_UPDATES]:
    """
    @notice Every update of a round in submission order (one call instead of one per update).
    """
    span: uint256 = self.round_span[round]
    out: DynArray[Update, MAX_UPDATES] = []
    for i: uint256 in range(MAX_UPDATES):
        if i >= self._span_count(span):
            break
        out.append(self._update(self._span_first(span) + i))
    return out


@external
@view
def get_qualified(round: uint256) -> DynArray[uint256, MAX_UPDATES]:
    """
    @notice The qualified updates of a round, best median first.
    """
    return self._qualified(round)

