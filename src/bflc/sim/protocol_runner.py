"""BFLC rounds driven through the real contract on the in-process chain.

Every decision (who trains, who scores, which updates qualify, the next
committee, the accepted model) is read from the chain, and every step a node
takes is the node daemon's own role step (:mod:`bflc.roles`); the simulator
only decides when each virtual node acts.
"""

from __future__ import annotations

import numpy as np

from bflc.attacks import HONEST, Misbehaviour
from bflc.chain import ElectionMode, Ledger, Phase, ProtocolParams, to_fixed
from bflc.chain.fast import FastChain
from bflc.chain.types import MAX_NODES_PER_DECISION
from bflc.errors import ChainError
from bflc.ml.models import Params
from bflc.roles import Aggregator, CommitteeMember, ModelBlobs, SealedUpdate, SuspectMemory, Trainer, Watcher
from bflc.sim.config import SimConfig
from bflc.sim.metrics import CommitteeMetrics, RoundMetrics
from bflc.sim.nodes import VirtualNodes
from bflc.sim.population import Population
from bflc.sim.transfers import bflc_round
from bflc.storage import MemoryBlobStore, bytes32_to_hash, hash_to_bytes32, model_spec
from bflc.timing import PhaseTimer

# Every phase deadline of the simulated network: the simulator mines empty
# blocks up to a deadline only when a phase must be closed early.
DEADLINE_BLOCKS = 10**6


class ProtocolRunner:
    """Plays BFLC rounds: trainers commit and reveal, the committee scores and aggregates.

    Parameters
    ----------
    config:
        The run's settings.
    nodes:
        The virtual nodes' learners and attacks.
    population:
        Who is online, who is malicious, committee and round sizes.
    """

    def __init__(self, config: SimConfig, nodes: VirtualNodes, population: Population) -> None:
        self.config = config
        self.nodes = nodes
        self.population = population
        self.timer = PhaseTimer()
        self.store = MemoryBlobStore()
        initial = nodes.initial_parameters()
        # each round's global model, updates and aggregate are decoded once and shared by the virtual nodes
        self.blobs = ModelBlobs(self.store, model_spec(initial), memo=population.updates_per_round + 2, timer=self.timer)
        self.chain = FastChain(population.size + 1)
        self.manager = self.chain.accounts[0]
        self.addresses = self.chain.accounts[1 : population.size + 1]
        self.node_of = {a: i for i, a in enumerate(self.addresses)}
        colluders = frozenset(self.addresses[i] for i in population.malicious) if config.collude else frozenset()
        self.misbehaviour = Misbehaviour(nodes.attack, colluders)

        genesis = self.blobs.put(initial)
        election = ElectionMode.parse(config.election)
        factor_weight = config.factor_weight if election == ElectionMode.MULTI_FACTOR else 0.0
        params = ProtocolParams(
            committee_size=population.committee_size,
            updates_per_round=population.updates_per_round,
            qualify_top_fraction=config.qualify_top_fraction,
            relative_min_score=config.relative_min_score,
            min_score=config.min_score,
            election=election,
            score_weight=1.0 - factor_weight,
            factor_weight=factor_weight,
            min_committee_size=min(3, population.committee_size),
            commit_deadline_blocks=DEADLINE_BLOCKS,
            reveal_deadline_blocks=DEADLINE_BLOCKS,
            score_deadline_blocks=DEADLINE_BLOCKS,
            round_deadline_blocks=3 * DEADLINE_BLOCKS,
        )
        founders = [self.addresses[i] for i in population.first_committee(config.seed)]
        self.protocol_params = params
        self.ledger = self.chain.deploy([self.manager], founders, hash_to_bytes32(genesis), self.store.uri(genesis), params)
        newcomers = [address for address in self.addresses if address not in founders]
        for i in range(0, len(newcomers), MAX_NODES_PER_DECISION):
            self.ledger.admit(*newcomers[i : i + MAX_NODES_PER_DECISION])
        if election == ElectionMode.MULTI_FACTOR:
            factors = [to_fixed(round(float(f), 6)) for f in np.random.default_rng([config.seed, 5]).uniform(size=population.size)]
            for i in range(0, len(factors), MAX_NODES_PER_DECISION):
                self.ledger.attest_factors(
                    dict(zip(self.addresses[i : i + MAX_NODES_PER_DECISION], factors[i : i + MAX_NODES_PER_DECISION], strict=True))
                )
        self._admission_stats = (self.chain.stats.transactions, self.chain.stats.gas_used)
        self._ledgers: dict[int, Ledger] = {}
        # The committee's remembered suspects, shared by the virtual nodes (each would compute the same).
        self.memory = SuspectMemory()

    # ------------------------------------------------------------ the virtual nodes' roles

    def _ledger(self, node: int) -> Ledger:
        if node not in self._ledgers:
            self._ledgers[node] = self.ledger.as_account(self.addresses[node])
        return self._ledgers[node]

    def _trainer(self, node: int) -> Trainer:
        return Trainer(self._ledger(node), self.blobs, self.nodes.learner(node), self.nodes.seeds(node), self.nodes.attack_of(node), timer=self.timer)

    def _member(self, node: int) -> CommitteeMember:
        misbehaviour = self.misbehaviour if self.nodes.is_malicious(node) else HONEST
        return CommitteeMember(
            self._ledger(node), self.blobs, self.nodes.learner(node), self.nodes.seeds(node), misbehaviour,
            self.config.training.max_loss_ratio, self.config.training.screen_similarity, self.config.training.screen_push,
            self.memory, timer=self.timer,
        )

    def _aggregator(self, node: int) -> Aggregator:
        training = self.config.training
        return Aggregator(self._ledger(node), self.blobs, training.sample_cap_or_none, training.norm_clip_or_none, timer=self.timer)

    # ------------------------------------------------------------ rounds

    def global_model(self, round: int) -> Params:
        """The round's global model, fetched by its on-chain hash and verified."""
        return self.blobs.fetch(bytes32_to_hash(self.ledger.model(round).blob_hash))

    def run_round(self, round: int) -> RoundMetrics:
        """Play one round; return its metrics (accuracy is filled in by the caller)."""
        cfg, pop = self.config, self.population
        tx_before, gas_before = self.chain.stats.transactions, self.chain.stats.gas_used
        state = self.ledger.round_state()
        if state.round != round:
            raise ChainError(f"the chain is at round {state.round}, the simulator expected {round}")
        committee = [self.node_of[a] for a in state.committee]
        trainers = pop.active_others(round, cfg.seed, set(committee), pop.updates_per_round)
        global_model = bytes32_to_hash(state.model.blob_hash)

        update_ids, closed_early = self._submit(round, trainers, global_model)
        if update_ids:
            # every member scores every update: the last vote triggers aggregation
            updates = sorted(self.ledger.round_updates(round, with_votes=False), key=lambda u: u.update_id)
            for member in committee:
                judge = self._member(member)
                judge.vote(round, [u.update_id for u in updates], judge.judge(round, updates).scores)
            accepted = self._aggregate(round, committee)
            deadline = "commitments closed" if closed_early else None
        else:
            deadline, accepted = self._replace_committee(round, state.start_block, trainers), False

        return RoundMetrics.tally(
            round,
            trainers,
            update_ids,
            self.ledger.qualified(round),
            self.nodes.is_malicious,
            transactions=self.chain.stats.transactions - tx_before,
            gas=self.chain.stats.gas_used - gas_before,
            # full-model transfers as a network of `bflc node` daemons makes them
            transfers=bflc_round(len(trainers), len(committee), len(update_ids), len(self.ledger.proposals(round))),
            committee=CommitteeMetrics(
                committee=committee,
                committee_malicious=sum(1 for c in committee if self.nodes.is_malicious(c)),
                model_accepted=accepted,
                deadline=deadline,
            ),
        )

    def current_parameters(self) -> Params:
        """The global model of the round the chain is at."""
        return self.global_model(self.ledger.current_round())

    def setup_cost(self) -> dict[str, int]:
        """Transactions and gas of deployment and admission."""
        return {"transactions": self._admission_stats[0], "gas": self._admission_stats[1]}

    def _submit(self, round: int, trainers: list[int], global_model: str) -> tuple[dict[int, int], bool]:
        """Each trainer trains and commits; then each uploads and reveals.

        A trainer without a usable update sits the round out: its training
        diverged (no blob can carry NaN or infinity), or its blob was used
        before (the unchanged global model, or another trainer's blob this
        round), so its reveal would be refused. Commitments then close at the
        commit deadline instead of at K.

        Returns
        -------
        tuple[dict[int, int], bool]
            Update id -> node, and whether the commitments were closed at the deadline.
        """
        sealed: dict[int, SealedUpdate] = {}
        for node in trainers:
            trainer = self._trainer(node)
            update = trainer.train(round, global_model)
            if update is None:
                continue
            candidate = trainer.seal(update, self.nodes.seeds(node).salt(round))
            if trainer.is_fresh(candidate) and all(s.blob_hash != candidate.blob_hash for s in sealed.values()):
                trainer.commit(round, candidate)
                sealed[node] = candidate
        if not sealed:
            return {}, False
        closed_early = self.ledger.phase() == Phase.COMMIT
        if closed_early:
            self._close_commitments(round)
        return {self._trainer(node).reveal(round, update): node for node, update in sealed.items()}, closed_early

    def _aggregate(self, round: int, committee: list[int]) -> bool:
        """The committee proposes the FedAvg of the qualified updates.

        Honest members compute the same bytes (the aggregation is
        deterministic), so the aggregate is built once; an average of finite
        updates is finite, so it always makes a blob. Returns whether a new
        model was accepted (False: round skipped).
        """
        if self.ledger.current_round() != round:
            return False
        if self.ledger.phase() != Phase.AGGREGATING:
            raise ChainError(f"round {round} did not reach aggregation after every member scored")
        proposal = self._aggregator(committee[0]).build(round)
        for member in committee:
            if self.ledger.current_round() != round:
                break
            self._aggregator(member).propose(round, proposal.blob)
        if self.ledger.current_round() == round:
            raise ChainError(f"the committee of round {round} did not agree on a model")
        return True

    # ------------------------------------------------------------ deadline paths

    def _wait_for(self, start_block: int, deadline_blocks: int) -> None:
        """Mine empty blocks until ``deadline_blocks`` after ``start_block``."""
        with self.timer.phase("chain"):
            self.chain.mine(max(0, start_block + deadline_blocks - self.chain.block_number()))

    def _close_commitments(self, round: int) -> None:
        """Fewer than K trainers committed: after the commit deadline a node closes the commitments."""
        state = self.ledger.round_state()
        self._wait_for(state.phase_start_block, self.protocol_params.deadline_blocks(state.phase))
        Watcher(self._ledger(0), self.protocol_params, timer=self.timer).close_phase(round)

    def _replace_committee(self, round: int, start_block: int, trainers: list[int]) -> str:
        """No model could be proposed (no trainer had an update): the manager steps in; returns what it did.

        After the round deadline the manager replaces the committee with the
        round's trainers, who are alive, and the next round keeps the current
        model (``"committee replaced"``). With too few of them for a committee
        of the minimum size it restarts the round from the same model with the
        same committee instead (a failback to the round itself: ``"round restarted"``).
        """
        self._wait_for(start_block, self.protocol_params.round_deadline_blocks)
        watcher = Watcher(self.ledger, self.protocol_params, is_manager=True, timer=self.timer)
        state = self.ledger.round_state()
        members = watcher.committee_of(watcher.eligible([self.addresses[t] for t in trainers], state))
        if members:
            watcher.replace_committee(round, members)
            return "committee replaced"
        with self.timer.phase("chain"):
            self.ledger.failback(round)
        return "round restarted"
