"""Inter-process interfaces (ipc.interfaces) and their Cap'n Proto transport (ipc.capnp)."""
