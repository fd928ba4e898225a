"""Full-model transfers per round (bflc.sim.transfers): known answers, and how rounds record them."""

from bflc.sim.metrics import RoundMetrics
from bflc.sim.transfers import bflc_round, broadcast_round, server_round, summed


def test_a_bflc_round_counts_every_model_a_network_of_nodes_moves():
    """6 trainers and 3 members download the model; 5 updates go up, each comes down to 3 members; 2 members propose."""
    assert bflc_round(trainers=6, committee=3, updates=5, proposals=2) == {
        "model_downloads": 9,
        "update_uploads": 5,
        "update_downloads": 15,
        "aggregate_uploads": 1,  # the first proposer writes the aggregate ...
        "aggregate_checks": 1,  # ... the second reads the stored copy back before it would write
    }


def test_a_bflc_round_without_updates_or_proposals_only_downloads_the_model():
    assert bflc_round(trainers=4, committee=3, updates=0, proposals=0) == {
        "model_downloads": 7,
        "update_uploads": 0,
        "update_downloads": 0,
        "aggregate_uploads": 0,
        "aggregate_checks": 0,
    }


def test_the_paper_scale_bflc_round():
    """90 active nodes, a committee of 17 (20%, odd), every trainer's update revealed, a majority of 9 proposing."""
    transfers = bflc_round(trainers=73, committee=17, updates=73, proposals=9)
    assert sum(transfers.values()) == 90 + 73 + 73 * 17 + 9 == 1413


def test_a_server_sends_the_model_to_each_active_node_and_receives_each_update():
    assert server_round(active=17, updates=17) == {"model_downloads": 17, "update_uploads": 17}
    assert server_round(active=17, updates=12) == {"model_downloads": 17, "update_uploads": 12}


def test_broadcast_sends_each_update_to_every_other_active_node():
    assert broadcast_round(active=17, senders=17) == {"update_sends": 272}
    assert broadcast_round(active=17, senders=12) == {"update_sends": 192}
    assert broadcast_round(active=1, senders=1) == {"update_sends": 0}
    assert broadcast_round(active=5, senders=0) == {"update_sends": 0}


def test_summed_adds_each_kind_over_rounds():
    rounds = [server_round(3, 3), server_round(3, 1), {}]
    assert summed(rounds) == {"model_downloads": 6, "update_uploads": 4}
    assert summed([]) == {}


def test_a_round_records_its_transfers_and_their_total():
    metrics = RoundMetrics.tally(0, [1, 2, 3], {0: 1, 1: 2}, [0], lambda node: node == 2, transfers=server_round(3, 2))
    assert metrics.transmission_units == 5
    values = metrics.to_dict()
    assert values["transfers"] == {"model_downloads": 3, "update_uploads": 2} and values["transmission_units"] == 5
