"""An in-process network of node daemons with a tiny deterministic learner,
for fast unit tests of :meth:`NodeDaemon.step`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bflc.chain import ProtocolParams
from bflc.chain.inprocess import InProcessChain
from bflc.chain.web3_ledger import Web3Ledger
from bflc.ml.learner import Params
from bflc.ml.models import Score, flatten
from bflc.node.daemon import NodeDaemon
from bflc.storage import LocalBlobStore, hash_to_bytes32, put_model

TARGET = 1.0


class TinyLearner:
    """Two tensors; training moves them halfway to TARGET (plus seeded noise);
    a candidate's score falls with its distance from TARGET."""

    def __init__(self, samples: int = 10, on_fit: Callable[[], None] | None = None) -> None:
        self.samples = samples
        self.on_fit = on_fit
        self.fits = 0

    def initial_parameters(self) -> Params:
        return {"b": np.zeros(3, np.float32), "w": np.zeros((2, 2), np.float32)}

    def fit(self, global_params: Params, seed: int) -> tuple[Params, int]:
        self.fits += 1
        if self.on_fit is not None:
            self.on_fit()
        rng = np.random.default_rng(seed)
        out = {k: (v + 0.5 * (TARGET - v) + rng.normal(0, 0.01, v.shape)).astype(np.float32) for k, v in global_params.items()}
        return out, self.samples

    def score(self, candidates: Sequence[Params]) -> list[Score]:
        accuracies = [float(1.0 / (1.0 + np.abs(flatten(dict(sorted(c.items()))) - TARGET).mean())) for c in candidates]
        return [Score(a, 1.0 - a) for a in accuracies]

    def evaluate(self, params: Params) -> tuple[float, float]:
        accuracy = self.score([params])[0].accuracy
        return 1.0 - accuracy, accuracy


@dataclass
class Net:
    chain: InProcessChain
    ledger: Web3Ledger  # the manager's
    store: LocalBlobStore
    root: Path
    manager: str
    nodes: list[str]
    params: ProtocolParams
    committee_size: int
    daemons: dict[str, NodeDaemon] = field(default_factory=dict)

    @property
    def members(self) -> list[str]:
        """The first committee."""
        return self.nodes[: self.committee_size]

    @property
    def trainers(self) -> list[str]:
        """The nodes that train in round 0."""
        return self.nodes[self.committee_size :]

    def daemon(self, account: str, learner: TinyLearner | None = None, *, watcher: bool = False, **options) -> NodeDaemon:
        """A (new) daemon for ``account`` over its state directory."""
        self.daemons[account] = NodeDaemon(
            self.ledger.as_account(account),
            self.store,
            None if watcher else (learner or TinyLearner()),
            self.root / account,
            echo=None,
            **options,
        )
        return self.daemons[account]

    def step_all(self, accounts: Sequence[str] | None = None, passes: int = 1) -> None:
        for _ in range(passes):
            for account in accounts or list(self.daemons):
                self.daemons[account].step()

    def play_round(self, accounts: Sequence[str] | None = None, max_passes: int = 10) -> int:
        """Step the daemons until the round changes; return the new round."""
        start = self.ledger.current_round()
        for _ in range(max_passes):
            self.step_all(accounts)
            if self.ledger.current_round() != start:
                return self.ledger.current_round()
        raise AssertionError(f"round {start} did not finish in {max_passes} passes")


def build_net(root: Path, num_nodes: int = 7, committee: int = 3, **params) -> Net:
    """A manager, ``num_nodes`` admitted nodes (the first ``committee`` are the
    first committee, the others train: K = all of them), genesis = the
    learner's initial parameters. Every transaction is a block: the phases of
    a round take fewer blocks than their deadlines unless a test mines."""
    chain = InProcessChain(num_nodes + 4)
    manager, nodes = chain.accounts[0], chain.accounts[1 : num_nodes + 1]
    defaults = {
        "committee_size": committee,
        "updates_per_round": num_nodes - committee,
        "relative_min_score": 0.5,
        "commit_deadline_blocks": 15,
        "reveal_deadline_blocks": 15,
        "score_deadline_blocks": 40,
        "round_deadline_blocks": 80,
    }
    p = ProtocolParams(**{**defaults, **params})
    store = LocalBlobStore(root / "store")
    genesis = put_model(store, TinyLearner().initial_parameters())
    ledger = chain.deploy([manager], nodes[:committee], hash_to_bytes32(genesis), store.uri(genesis), p)
    ledger.admit(*nodes[committee:])
    return Net(chain, ledger, store, root, manager, list(nodes), p, committee)
