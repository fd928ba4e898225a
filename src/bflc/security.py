"""Probability that colluding malicious nodes win the committee (paper, Fig. 3).

Of A participating nodes a fraction q is malicious and pretends to be honest,
so every node performs alike and the committee of A·p members is a uniform
draw without replacement. The attack succeeds when malicious members hold
more than half of the seats: P[X > A·p/2] with
X ~ Hypergeometric(population A, successes A·q, draws A·p).

Integer sizes: the committee has ``round(A * p)`` seats and ``round(A * q)``
nodes are malicious, rounded to the nearest integer with Python's ``round``
(halves to even), as the simulator sizes its populations. With M seats,
"more than M/2" means at least ``floor(M / 2) + 1``, so the probability is
``hypergeom.sf(floor(M / 2), A, round(A * q), M)``.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np
from scipy.stats import hypergeom

from bflc.errors import ConfigError
from bflc.protocol import Candidate, elect_random, election_seed, rank_updates


class Estimate(NamedTuple):
    """A Monte-Carlo probability and its standard error."""

    probability: float
    standard_error: float
    trials: int


def attack_sizes(nodes: int, committee_fraction: float, malicious_fraction: float) -> tuple[int, int]:
    """Committee seats and malicious nodes among ``nodes``, validated.

    Raises
    ------
    ConfigError
        If ``nodes < 1``, ``committee_fraction`` is outside (0, 1] or leaves
        no seat, or ``malicious_fraction`` is outside [0, 1].
    """
    given: object = nodes  # checked at run time too: callers outside the type checker may pass a float or a bool
    if isinstance(given, bool) or not isinstance(given, numbers.Integral) or nodes < 1:
        raise ConfigError(f"--nodes {nodes!r} must be a whole number >= 1")
    if not 0 < committee_fraction <= 1:
        raise ConfigError(f"--committee-fraction {committee_fraction} must be in (0, 1]")
    if not 0 <= malicious_fraction <= 1:
        raise ConfigError(f"--malicious-fraction {malicious_fraction} must be in [0, 1]")
    seats = round(nodes * committee_fraction)
    if seats < 1:
        raise ConfigError(
            f"a committee of {committee_fraction} of {nodes} nodes has no seat",
            f"use --committee-fraction above {0.5 / nodes:.3g}",
        )
    return seats, round(nodes * malicious_fraction)


def attack_probability(nodes: int, committee_fraction: float, malicious_fraction: float) -> float:
    """Exact P[malicious nodes hold more than half of the committee seats].

    Parameters
    ----------
    nodes:
        A, the participating nodes.
    committee_fraction:
        p, the committee's share of A (seats: ``round(A * p)``).
    malicious_fraction:
        q, the malicious share of A (``round(A * q)`` nodes).

    Raises
    ------
    ConfigError
        If an argument is out of range (see :func:`attack_sizes`).
    """
    seats, malicious = attack_sizes(nodes, committee_fraction, malicious_fraction)
    return float(hypergeom.sf(seats // 2, nodes, malicious, seats))


def malicious_seats(nodes: int, seats: int, malicious: int, seed: bytes) -> int:
    """Malicious members of a committee drawn by the contract's random election.

    The ``nodes`` candidates have equal median scores (the paper assumes all
    nodes perform alike), so the contract ranks them by update id; nodes
    ``0 .. malicious - 1`` are the malicious ones (which nodes they are does
    not matter to a uniform election). ``seats`` of them are elected with
    :func:`bflc.protocol.elect_random`, the integer algorithm the contract
    runs, from the election seed ``seed``.
    """
    candidates = rank_updates([Candidate(update_id=i, provider=str(i), median=0) for i in range(nodes)])
    return sum(1 for node in elect_random(candidates, seats, seed) if int(node) < malicious)


def monte_carlo_attack_probability(
    nodes: int, committee_fraction: float, malicious_fraction: float, trials: int, seed: int
) -> Estimate:
    """Estimate :func:`attack_probability` by running the contract's random election.

    Each trial draws fresh round entropy (the XOR of revealed salts), derives the contract's election seed
    from it (:func:`bflc.protocol.election_seed`), elects ``round(A * p)`` of
    the A nodes (:func:`malicious_seats`) and counts a success when malicious
    nodes hold more than half of the seats.

    Raises
    ------
    ConfigError
        If an argument is out of range or ``trials < 1``.
    """
    seats, malicious = attack_sizes(nodes, committee_fraction, malicious_fraction)
    if trials < 1:
        raise ConfigError(f"trials {trials} must be at least 1")
    rng = np.random.default_rng(seed)
    wins = sum(
        2 * malicious_seats(nodes, seats, malicious, election_seed(int.from_bytes(rng.bytes(32), "big"), trial)) > seats
        for trial in range(trials)
    )
    probability = wins / trials
    return Estimate(probability, math.sqrt(probability * (1 - probability) / trials), trials)
