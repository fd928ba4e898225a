"""In-process simulation of many nodes driving the real contract."""
