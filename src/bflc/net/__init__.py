"""Real networks: key files, network files, connecting with a local signer, and the operator commands.

The commands are ``bflc keys``, ``chain deploy``, ``status``, ``model get``
and ``admin``.

The submodules are imported on demand (``bflc.net.keys``,
``bflc.net.network``, ``bflc.net.connect``, ``bflc.net.deploy``,
``bflc.net.status``) so that ``bflc --help`` stays instant.
"""
