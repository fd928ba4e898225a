"""A bflc node: one long-running process per organisation or device.

Its role in each round (trainer, committee member, watcher or idle) comes
from the chain; the role steps are :mod:`bflc.roles`; its machine learning
comes from a :class:`~bflc.ml.learner.Learner`.
"""
