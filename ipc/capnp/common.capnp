@0x882813f6b3ec6c90;
# Conventions every splitd schema follows, so that one generic adapter
# (ipc/capnp/wire.py, ipc/capnp/proxy.py) serves every interface:
#  - a method's Python arguments are its params, by name (snake_case <-> camelCase);
#  - its results are `error :Error` and, unless it returns None, `result`;
#  - a Python `X | None` field is an unset pointer when X is a pointer type
#    (Text, Data, struct, list), else a group `union { none :Void; value :X }`.

struct Error {
  # Set by the server when the method raised a splitd error: the caller
  # re-raises the same class. Never carries a traceback.
  code @0 :Text;
  message @1 :Text;
  rpcCode @2 :Int32;  # Bitcoin Core's RPC error code for it (src/rpc/protocol.h)
}
