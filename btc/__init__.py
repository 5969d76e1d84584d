"""Bitcoin data structures shared by the node and the wallet (as Core's src/primitives is).

Imports nothing of the project, so both may use it and stay independent of each other.
"""
