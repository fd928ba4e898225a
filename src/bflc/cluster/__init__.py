"""The local cluster launcher: anvil and node daemons as processes on one machine (``bflc cluster``)."""
