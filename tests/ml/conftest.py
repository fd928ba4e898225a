"""Shared datasets for the ML tests (loaded once per session)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from bflc.ml.data import FederatedDataset, load_digits_writers, load_femnist


@pytest.fixture(scope="session")
def femnist() -> FederatedDataset:
    return load_femnist()


@pytest.fixture(scope="session")
def digits() -> FederatedDataset:
    return load_digits_writers(num_writers=5, seed=0)


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Run each ML test on one torch thread, restoring the caller's count after.

    The tests use tiny batches, where a second thread gains nothing; on a
    shared 2-core machine two OpenMP threads competing with another busy
    process made single tests 50-100x slower (a thread waits at every
    barrier for its descheduled peer).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
