# Bitcoin Core's src/ipc/capnp/common.capnp, wire-compatible (same IDs, names, ordinals,
# types), without the $Cxx/$Proxy annotations of Core's C++ generator.

@0xcd2c6232cb484a28;

struct BlockRef {
    hash @0 :Data;      # 32 bytes, Core's internal byte order (the reverse of the hex shown)
    height @1 :Int32;
}
