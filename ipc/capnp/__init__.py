"""The Cap'n Proto transport: schemas, generic proxies, connections. The only user of capnp."""
