"""A bflc node: one long-running process per organisation or device.

Its role in each round (trainer, committee member or idle) comes from the
chain; its machine learning comes from a :class:`~bflc.node.learner.NodeLearner`.
"""
