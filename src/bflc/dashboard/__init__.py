"""``bflc dashboard``: a live, read-only web page of a BFLC network.

:mod:`~bflc.dashboard.chain` reads the contract (cached, recovering from
outages), :mod:`~bflc.dashboard.events` keeps its event log,
:mod:`~bflc.dashboard.verdicts` explains each update's verdict,
:mod:`~bflc.dashboard.accuracy` collects the nodes' accuracy reports,
:mod:`~bflc.dashboard.views` builds the JSON documents and
:mod:`~bflc.dashboard.app` serves them with the page under ``static/``.
See docs/dashboard.md.
"""
