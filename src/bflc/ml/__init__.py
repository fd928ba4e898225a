"""Machine learning for bflc: datasets, models, local training, committee scoring.

The submodules are imported one by one (``bflc.ml.data``, ``bflc.ml.models``,
``bflc.ml.train``, ``bflc.ml.scoring``) rather than re-exported here, so that
loading a dataset does not pay for importing torch.
"""
