"""Attack probability (paper, Fig. 3): exact value, Monte-Carlo over the
contract's random election, the CLI, and the contract itself at small A."""

import functools
import json
import math
from fractions import Fraction

import pytest
from eth_utils.crypto import keccak
from scipy.stats import hypergeom

from bflc.chain import SCORE_ONE, ElectionMode, ProtocolParams
from bflc.chain.inprocess import InProcessChain
from bflc.cli import main
from bflc.errors import ConfigError
from bflc.protocol import Candidate, commitment, elect_random, election_seed, mix_entropy
from bflc.security import attack_probability, attack_sizes, malicious_seats, monte_carlo_attack_probability

GRID = [
    (nodes, p, q)
    for nodes in (1, 2, 7, 20, 101, 1000)
    for p in (0.01, 0.1, 0.25, 0.5, 0.9, 1.0)
    for q in (0.0, 0.1, 0.3, 0.45, 0.5, 0.55, 0.7, 1.0)
    if round(nodes * p) >= 1
]


def exact_fraction(nodes: int, seats: int, malicious: int) -> Fraction:
    """P[X > seats/2] in exact rational arithmetic."""
    wins = sum(math.comb(malicious, x) * math.comb(nodes - malicious, seats - x) for x in range(seats // 2 + 1, seats + 1))
    return Fraction(wins, math.comb(nodes, seats))


@pytest.mark.parametrize(("nodes", "p", "q"), GRID)
def test_exact_matches_scipy_and_rational_arithmetic(nodes, p, q):
    seats, malicious = round(nodes * p), round(nodes * q)
    probability = attack_probability(nodes, p, q)
    pmf_sum = sum(hypergeom.pmf(x, nodes, malicious, seats) for x in range(seats // 2 + 1, seats + 1))
    assert probability == pytest.approx(pmf_sum, abs=1e-9)
    assert probability == pytest.approx(float(exact_fraction(nodes, seats, malicious)), abs=1e-9)


def test_edge_cases():
    assert attack_probability(1000, 0.4, 0.0) == 0.0
    assert attack_probability(1000, 0.4, 1.0) == 1.0
    # the whole population sits: the malicious win exactly when they are a strict majority
    assert attack_probability(10, 1.0, 0.5) == 0.0 and attack_probability(10, 1.0, 0.6) == 1.0
    # an even committee needs floor(M/2) + 1 malicious seats: 2 of 2 here
    assert attack_probability(4, 0.5, 0.5) == pytest.approx(1 / 6, abs=1e-12)
    assert attack_sizes(1000, 0.0015, 0.0005) == (2, 0)  # round() halves to even: 1.5 -> 2, 0.5 -> 0


@pytest.mark.parametrize(
    ("nodes", "p", "q", "message"),
    [
        (0, 0.4, 0.1, "--nodes 0 must be a whole number >= 1"),
        (-5, 0.4, 0.1, "--nodes -5"),
        (10.5, 0.4, 0.1, "--nodes 10.5"),
        (1000, 0.0, 0.1, "--committee-fraction 0.0 must be in (0, 1]"),
        (1000, 1.5, 0.1, "--committee-fraction 1.5"),
        (1000, float("nan"), 0.1, "--committee-fraction nan"),
        (1000, 0.4, -0.1, "--malicious-fraction -0.1 must be in [0, 1]"),
        (1000, 0.4, 1.01, "--malicious-fraction 1.01"),
        (1000, 0.0004, 0.1, "has no seat"),
    ],
)
def test_bad_input_is_a_config_error(nodes, p, q, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        attack_probability(nodes, p, q)


def test_cli_prints_one_json_value(capsys):
    code = main(["attack-probability", "--nodes", "1000", "--committee-fraction", "0.4", "--malicious-fraction", "0.45", "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out) == {"probability": attack_probability(1000, 0.4, 0.45)}


def test_cli_rejects_bad_input_in_one_line(capsys):
    code = main(["attack-probability", "--nodes", "1000", "--committee-fraction", "2", "--malicious-fraction", "0.3", "--json"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("bflc: error: --committee-fraction 2.0")


@pytest.mark.parametrize(("p", "q"), [(0.02, 0.45), (0.02, 0.5), (0.1, 0.55)])
def test_monte_carlo_is_within_a_few_standard_errors(p, q):
    trials = 400
    exact = attack_probability(1000, p, q)
    estimate = monte_carlo_attack_probability(1000, p, q, trials, seed=7)
    assert estimate.trials == trials
    assert abs(estimate.probability - exact) <= 4 * math.sqrt(exact * (1 - exact) / trials)


def test_monte_carlo_validates_trials():
    with pytest.raises(ConfigError, match="trials 0"):
        monte_carlo_attack_probability(1000, 0.1, 0.3, 0, seed=0)


def contract_random_committee(nodes: int, seats: int, salts: list[bytes]) -> tuple[list[int], int]:
    """Positions (in update order) of the trainers the deployed contract elects, and the round's entropy.

    ``nodes`` trainers commit to one update each (trainer i with salt
    ``salts[i]``) and reveal it, a founding committee of ``seats`` scores them
    all equally and accepts a model; the contract then elects the next
    committee at random from the round's entropy.
    """
    chain = InProcessChain(1 + seats + nodes)
    manager, founders, trainers = chain.accounts[0], chain.accounts[1 : 1 + seats], chain.accounts[1 + seats :]
    params = ProtocolParams(committee_size=seats, updates_per_round=nodes, election=ElectionMode.RANDOM)
    ledger = chain.deploy([manager], founders, b"\x01" * 32, "file:///genesis", params)
    for t in trainers:
        ledger.admit(t)
    sealed = [(t, (i + 1).to_bytes(32, "big"), 10, salt) for i, (t, salt) in enumerate(zip(trainers, salts, strict=True))]
    for t, blob, samples, salt in sealed:  # the K-th commitment opens the reveals
        ledger.as_account(t).commit_update(0, commitment(t, 0, blob, samples, salt))
    ids = [ledger.as_account(t).reveal_update(0, blob, samples, salt) for t, blob, samples, salt in sealed]
    for member in founders:
        ledger.as_account(member).submit_scores(0, ids, [SCORE_ONE // 2] * nodes)
    for member in founders[: seats // 2 + 1]:
        ledger.as_account(member).propose_model(0, b"\xab" * 32, "file:///m")
    return [trainers.index(m) for m in ledger.committee(1)], ledger.entropy(0)


@pytest.mark.parametrize("label", [b"a", b"b", b"c"])
def test_contract_random_election_seats_equal_the_mirror(label):
    nodes, seats, malicious = 20, 7, 10
    salts = [keccak(label + bytes([i])) for i in range(nodes)]
    elected, entropy = contract_random_committee(nodes, seats, salts)
    assert entropy == functools.reduce(mix_entropy, salts, 0)
    seed = election_seed(entropy, 0)
    mirror = elect_random([Candidate(i, str(i), 0) for i in range(nodes)], seats, seed)
    assert elected == [int(node) for node in mirror]
    contract_seats = sum(1 for i in elected if i < malicious)
    assert contract_seats == malicious_seats(nodes, seats, malicious, seed)
