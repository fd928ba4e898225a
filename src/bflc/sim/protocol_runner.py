"""BFLC rounds driven through the real contract on the in-process chain.

Every decision (who trains, who scores, which updates qualify, the next
committee, the accepted model) is read from the chain; the simulator only
plays the nodes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bflc.chain import ElectionMode, Phase, ProtocolParams, UpdateRecord, to_fixed
from bflc.chain.fast import FastChain
from bflc.errors import ChainError
from bflc.ml.models import all_finite
from bflc.node.rounds import aggregate_qualified, collude
from bflc.sim.config import SimConfig
from bflc.sim.learner import Learner, Params, derive_seed
from bflc.sim.population import Population
from bflc.sim.timing import PhaseTimer
from bflc.storage import MemoryBlobStore, get_model, put_model
from bflc.storage.codec import bytes32_to_hash, hash_to_bytes32, model_spec

class ProtocolRunner:
    """Plays BFLC rounds: trainers submit, the committee scores and aggregates."""

    def __init__(self, config: SimConfig, learner: Learner, population: Population) -> None:
        self.config = config
        self.learner = learner
        self.population = population
        self.store = MemoryBlobStore()
        self.timer = PhaseTimer()
        self.chain = FastChain(population.size + 1)
        self.manager = self.chain.accounts[0]
        self.addresses = self.chain.accounts[1 : population.size + 1]
        self.node_of = {a: i for i, a in enumerate(self.addresses)}

        initial = learner.initial_parameters()
        self.spec = model_spec(initial)
        genesis = put_model(self.store, initial)
        election = ElectionMode.parse(config.election)
        factor_weight = config.factor_weight if election == ElectionMode.MULTI_FACTOR else 0.0
        params = ProtocolParams(
            committee_size=population.committee_size,
            updates_per_round=population.updates_per_round,
            qualify_top_fraction=config.qualify_top_fraction,
            relative_min_score=config.relative_min_score,
            election=election,
            score_weight=1.0 - factor_weight,
            factor_weight=factor_weight,
            score_deadline_blocks=10**6,
            round_deadline_blocks=10**6,
        )
        founders = [self.addresses[i] for i in population.first_committee(config.seed)]
        self.protocol_params = params
        self.ledger = self.chain.deploy([self.manager], founders, hash_to_bytes32(genesis), self.store.uri(genesis), params)
        for address in self.addresses:
            if address not in founders:
                self.ledger.admit(address)
        self.factors: list[float] = []
        if election == ElectionMode.MULTI_FACTOR:
            self.factors = [round(float(f), 6) for f in np.random.default_rng([config.seed, 5]).uniform(size=population.size)]
            for address, factor in zip(self.addresses, self.factors):
                self.ledger.as_account(address).declare_factor(to_fixed(factor))
        self._admission_stats = (self.chain.stats.transactions, self.chain.stats.gas_used)

    def global_model(self, round: int) -> Params:
        """The round's global model, fetched by its on-chain hash and verified."""
        record = self.ledger.model(round)
        with self.timer.phase("storage"):
            return get_model(self.store, bytes32_to_hash(record.blob_hash), expected=self.spec)

    def run_round(self, round: int) -> dict[str, Any]:
        """Play one round; return its metrics (accuracy is filled in by the caller)."""
        cfg, pop = self.config, self.population
        tx_before, gas_before = self.chain.stats.transactions, self.chain.stats.gas_used
        state = self.ledger.round_state()
        if state.round != round:
            raise ChainError(f"the chain is at round {state.round}, the simulator expected {round}")
        committee = [self.node_of[a] for a in state.committee]
        trainers = pop.active_others(round, cfg.seed, set(committee), pop.updates_per_round)
        global_params = self.global_model(round)

        update_ids = self._train_and_submit(round, trainers, global_params)
        records = {u.update_id: u for u in self.ledger.round_updates(round, with_votes=False)}
        with self.timer.phase("storage"):
            updates = {
                uid: get_model(self.store, bytes32_to_hash(rec.blob_hash), expected=self.spec)
                for uid, rec in records.items()
            }
        deadline = None
        if updates:
            self._score(round, committee, update_ids, updates)
            if self.ledger.current_round() == round and self.ledger.phase() == Phase.SCORING:
                deadline = "scoring closed"
                self._close_scoring(round, state.start_block)
            accepted = self._aggregate(round, committee, records, updates)
        else:
            deadline, accepted = "committee replaced", False
            self._replace_committee(round, state.start_block, trainers)

        malicious_ids = {uid for uid, node in update_ids.items() if node in pop.malicious}
        qualified = set(self.ledger.qualified(round))
        num_committee = len(committee)
        return {
            "round": round,
            "committee": committee,
            "committee_malicious": sum(1 for c in committee if c in pop.malicious),
            "trainers": trainers,
            "updates": len(update_ids),
            "unusable_updates": len(trainers) - len(update_ids),
            "accepted": len(qualified),
            "rejected": len(update_ids) - len(qualified),
            "malicious_submitted": len(malicious_ids),
            "malicious_accepted": len(malicious_ids & qualified),
            "model_accepted": accepted,
            "deadline": deadline,
            "transactions": self.chain.stats.transactions - tx_before,
            "gas": self.chain.stats.gas_used - gas_before,
            # one unit = one full model transfer: each trainer fetches the global
            # model, each update goes to each committee member
            "transmission_units": len(trainers) + len(update_ids) * num_committee,
        }

    def current_parameters(self) -> Params:
        return self.global_model(self.ledger.current_round())

    def setup_cost(self) -> dict[str, int]:
        return {"transactions": self._admission_stats[0], "gas": self._admission_stats[1]}

    # ------------------------------------------------------------ round phases

    def _train_and_submit(self, round: int, trainers: list[int], global_params: Params) -> dict[int, int]:
        """Each trainer trains, uploads its blob and submits its hash; returns update id -> node.

        A trainer whose parameters are not finite (its training diverged) has
        no blob to upload and submits nothing.
        """
        update_ids: dict[int, int] = {}
        for node in trainers:
            with self.timer.phase("train"):
                params, n_samples = self.learner.train(
                    node, global_params, derive_seed(self.config.seed, round, node), node in self.population.malicious
                )
            if not all_finite(params):
                continue
            with self.timer.phase("storage"):
                blob = put_model(self.store, params)
            with self.timer.phase("chain"):
                uid = self.ledger.as_account(self.addresses[node]).submit_update(round, hash_to_bytes32(blob), n_samples)
            update_ids[uid] = node
        return update_ids

    def _score(self, round: int, committee: list[int], update_ids: dict[int, int], updates: dict[int, Params]) -> None:
        ids = sorted(updates)
        candidates = [updates[u] for u in ids]
        for member in committee:
            with self.timer.phase("score"):
                scores = self.learner.score(member, candidates)
            if self.config.collude and member in self.population.malicious:
                rng = np.random.default_rng([self.config.seed, 4, round, member])
                scores = collude(scores, [update_ids[uid] in self.population.malicious for uid in ids], rng)
            with self.timer.phase("chain"):
                self.ledger.as_account(self.addresses[member]).submit_scores(
                    round, ids, [to_fixed(float(s)) for s in scores]
                )

    def _aggregate(self, round: int, committee: list[int], records: dict[int, UpdateRecord], updates: dict[int, Params]) -> bool:
        """The committee proposes the FedAvg of the qualified updates.

        Honest members compute the same bytes (the aggregation is
        deterministic), so the simulator computes the aggregate once; an
        average of finite updates is finite, so it always makes a blob.
        Returns whether a new model was accepted (False: round skipped).
        """
        if self.ledger.current_round() != round:
            return False
        if self.ledger.phase() != Phase.AGGREGATING:
            raise ChainError(f"round {round} did not reach aggregation after every member scored")
        qualified = self.ledger.qualified(round)
        with self.timer.phase("aggregate"):
            aggregate = aggregate_qualified(qualified, records, updates, self.config.sample_cap)
        with self.timer.phase("storage"):
            blob = put_model(self.store, aggregate)
        with self.timer.phase("chain"):
            for member in committee:
                if self.ledger.current_round() != round:
                    break
                self.ledger.as_account(self.addresses[member]).propose_model(round, hash_to_bytes32(blob), self.store.uri(blob))
        if self.ledger.current_round() == round:
            raise ChainError(f"the committee of round {round} did not agree on a model")
        return True

    # ------------------------------------------------------------ deadline paths

    def _wait_for(self, start_block: int, deadline_blocks: int) -> None:
        """Mine empty blocks until ``deadline_blocks`` after the round's ``start_block``."""
        self.chain.mine(max(0, start_block + deadline_blocks - self.chain.block_number()))

    def _close_scoring(self, round: int, start_block: int) -> None:
        """Fewer than K updates came in: after the scoring deadline a node closes
        scoring, so the round goes on with the updates it has."""
        with self.timer.phase("chain"):
            self._wait_for(start_block, self.protocol_params.score_deadline_blocks)
            self.ledger.as_account(self.addresses[0]).close_scoring(round)

    def _replace_committee(self, round: int, start_block: int, trainers: list[int]) -> None:
        """No model could be proposed (no trainer had an update): after the
        round deadline the manager replaces the committee with the round's
        trainers, who are alive, and the next round keeps the current model."""
        with self.timer.phase("chain"):
            self._wait_for(start_block, self.protocol_params.round_deadline_blocks)
            members = [self.addresses[t] for t in trainers][: self.population.committee_size]
            self.ledger.replace_committee(round, members)
