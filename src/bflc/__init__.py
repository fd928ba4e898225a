"""bflc: blockchain-based federated learning with committee consensus."""

__version__ = "0.1.0"
