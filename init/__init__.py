"""Process entry points that combine roles, like Bitcoin Core's src/init/ (bitcoind links both).

The only package allowed to import both ``node`` and ``wallet``.
"""
