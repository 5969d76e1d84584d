@0xcf8242b57c3465b4;
using import "common.capnp".Error;

interface Wallet {
  executeRpc @0 (method :Text, params :Text) -> (error :Error, result :Text);
  listRpcCommands @1 () -> (error :Error, result :List(Text));
}

struct WalletFace {
  # A wallet as the HTTP gateway serves it at /wallet/<name>; wallet unset while
  # it is not wired to the node.
  name @0 :Text;
  wallet @1 :Wallet;
}
