"""Small torch helpers shared by training and scoring."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from bflc.errors import ConfigError, DataError


def as_tensors(x: np.ndarray, y: np.ndarray, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples as float32 and labels as int64 tensors, after checking them and ``batch_size``."""
    if batch_size < 1:
        raise ConfigError(f"batch_size is {batch_size}", "use a batch size of at least 1")
    if len(x) != len(y) or len(y) == 0:
        raise DataError(f"got {len(x)} samples and {len(y)} labels", "pass equally many, at least one")
    return torch.as_tensor(np.asarray(x, dtype=np.float32)), torch.as_tensor(np.asarray(y, dtype=np.int64))


@contextmanager
def model_mode(model: nn.Module, *, training: bool) -> Iterator[None]:
    """Switch ``model`` to train or eval mode and restore its mode afterwards."""
    before = model.training
    model.train(training)
    try:
        yield
    finally:
        model.train(before)
