# Bitcoin Core's src/ipc/capnp/rpc.capnp, wire-compatible, without $Cxx/$Proxy annotations.

@0x9c3505dc45e146ac;

using Common = import "common.capnp";
using Proxy = import "proxy.capnp";

interface Rpc {
    # request: a JSON-RPC request (or batch) as JSON text; result: the reply as JSON text.
    executeRpc @0 (context :Proxy.Context, request :Text, uri :Text, user :Text) -> (result :Text);
}
