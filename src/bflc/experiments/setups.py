"""The settings every experiment starts from, and what the command line changes in them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypedDict, TypeVar

from bflc.demo import DEMO_CONFIG
from bflc.errors import ConfigError, DataError
from bflc.ml.data import load_dataset
from bflc.ml.models import MODEL_NAMES
from bflc.sim.config import SimConfig

# Every bundled FEMNIST writer, the demo's model and SGD settings, 40 rounds.
FULL = DEMO_CONFIG.replace(nodes=0, rounds=40)

# Settings that replace FULL's for a named preset. The paper (section V):
# "we simulate 900 devices", the writers of LEAF's FEMNIST, each training
# "the classic image classification model AlexNet" (here the AlexNet-style
# CNN of bflc.ml.models, scaled to 28x28 input). The committee's share (40%
# of the active nodes in Table 1, 20% in Figs. 4 and 5) and the active
# shares are each experiment's own and are the paper's already; the paper
# gives no SGD settings or round count, so FULL's stay.
PRESETS: dict[str, dict[str, Any]] = {"paper": {"nodes": 900, "model": "alexnet"}}

# The committee's backdoor defence as the experiments run it (decision 0010;
# off by default in SimConfig): BFLC rows that name it use these values, so
# that their runs keep their ids whatever the defaults.
BACKDOOR_DEFENCE: dict[str, Any] = {"screen_similarity": 0.25, "screen_push": 0.2, "norm_clip": 1.0}

BlockT = TypeVar("BlockT")


class BlockGrid(TypedDict, Generic[BlockT]):
    """An experiment's grid as blocks, each a product of its own settings, run in order."""

    blocks: tuple[BlockT, ...]


class QuickBlockGrid(BlockGrid[BlockT]):
    """A quick grid: its blocks and the smaller network they run on (``size``: nodes, rounds)."""

    size: dict[str, int]


_DATASET_HINT = "use femnist (the bundled writers) or leaf:DIR, a LEAF FEMNIST data folder with train/ and test/ *.json files"


@dataclass(frozen=True)
class Setup:
    """What the runs of an experiment start from beyond the quick or full grid.

    Parameters
    ----------
    preset:
        A name in :data:`PRESETS`, or ``None`` for :data:`FULL` as it is.
    dataset:
        ``femnist`` or ``leaf:DIR`` (``None``: :data:`FULL`'s, the bundled
        FEMNIST).
    model:
        A name in :data:`bflc.ml.models.MODEL_NAMES` (``None``: the preset's
        or :data:`FULL`'s).
    rounds:
        Rounds every run plays (``None``: the grid's).
    writers:
        The writers of the dataset, once :func:`check` has counted them:
        no run has more nodes.
    """

    preset: str | None = None
    dataset: str | None = None
    model: str | None = None
    rounds: int | None = None
    writers: int | None = None

    @property
    def changes(self) -> dict[str, Any]:
        """The settings given explicitly (dataset, model, rounds), by :class:`SimConfig` field."""
        given = {"dataset": self.dataset, "model": self.model, "rounds": self.rounds}
        return {name: value for name, value in given.items() if value is not None}

    def note(self) -> str | None:
        """A line saying that the preset asks for more nodes than the dataset has writers, else ``None``."""
        asked = PRESETS[self.preset].get("nodes", 0) if self.preset else 0
        if self.writers is None or asked <= self.writers:
            return None
        return f"the {self.preset} preset's {asked} nodes are capped at the {self.writers} writers of {self.dataset or FULL.dataset}"


# No preset and nothing given: the runs of the bundled FEMNIST as they have always been.
DEFAULT_SETUP = Setup()


def base(quick: bool, quick_size: dict[str, int], setup: Setup = DEFAULT_SETUP) -> SimConfig:
    """The config an experiment's runs start from.

    :data:`FULL`, with the preset's settings, then for a quick variant
    ``quick_size`` (fewer writers and rounds; 0 nodes keeps the nodes so
    far: every writer, or the preset's), then the settings given explicitly,
    then nodes capped at the dataset's writers. With :data:`DEFAULT_SETUP`:
    :data:`FULL`, or :data:`FULL` with ``quick_size``.
    """
    config = FULL.replace(**PRESETS[setup.preset]) if setup.preset else FULL
    if quick:
        config = config.replace(**{k: v for k, v in quick_size.items() if (k, v) != ("nodes", 0)})
    config = config.replace(**setup.changes)
    if setup.writers is not None and config.nodes > setup.writers:
        config = config.replace(nodes=setup.writers)
    return config


def check(setup: Setup) -> Setup:
    """``setup`` validated: its dataset loaded once to check it and count its writers.

    A ``leaf:DIR`` dataset is named by its absolute path (runs done in
    other processes or on other machines read it from there). Nothing is
    loaded unless a dataset or a preset is given.

    Raises
    ------
    ConfigError
        For an unknown preset or model, rounds below 1, or a dataset that is
        neither ``femnist`` nor ``leaf:DIR``.
    DataError
        If the dataset cannot be read (a missing folder, no LEAF files in
        it, a file that is not LEAF JSON), naming ``--dataset``.
    """
    if setup.preset is not None and setup.preset not in PRESETS:
        raise ConfigError(f"unknown preset {setup.preset!r}", f"use one of {', '.join(PRESETS)}")
    if setup.model is not None and setup.model not in MODEL_NAMES:
        raise ConfigError(f"--model {setup.model!r} is not a model", f"use one of {', '.join(MODEL_NAMES)}")
    if setup.rounds is not None and setup.rounds < 1:
        raise ConfigError(f"--rounds {setup.rounds} must be at least 1", "give the rounds every run plays, e.g. --rounds 2")
    spec = setup.dataset
    if spec is not None and spec != "femnist":
        folder = spec.removeprefix("leaf:")
        if folder in ("", spec):
            raise ConfigError(f"--dataset {spec!r} is not a FEMNIST dataset", _DATASET_HINT)
        spec = f"leaf:{Path(folder).expanduser().resolve()}"
    if spec is None and setup.preset is None:
        return setup
    try:
        dataset = load_dataset(spec or FULL.dataset)
    except (ConfigError, DataError) as error:
        raise type(error)(f"--dataset {setup.dataset}: {error.message}", error.hint) from None
    return dataclasses.replace(setup, dataset=spec, writers=dataset.num_writers)


def describe(result: dict[str, Any]) -> str:
    """The setup of a finished run in words, for plot titles."""
    c, d = result["config"], result["dataset"]
    name = f"LEAF FEMNIST {Path(d['name'].removeprefix('leaf:')).name}" if d["name"].startswith("leaf:") else d["name"].upper()
    return f"{name} {d['writers']} writers, {c['model']}, {c['rounds']} rounds"
