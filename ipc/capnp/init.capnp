@0xfe0e6f603559265c;
using import "common.capnp".Error;
using import "chain.capnp".Chain;
using import "node.capnp".Node;
using import "wallet.capnp".Wallet;
using import "wallet.capnp".WalletFace;

interface Init {
  ping @0 () -> (error :Error);
  shutdown @1 () -> (error :Error);
  makeNode @2 () -> (error :Error, result :Node);
  makeChain @3 () -> (error :Error, result :Chain);
  # The wallet, bound to the Chain it gets over the direct link named chainLink.
  makeWallet @4 (chainLink :Text) -> (error :Error, result :Wallet);
  # The HTTP gateway's faces: the node over the direct link named nodeLink (splitd's
  # ipc/links.py), "" while the node is not serving.
  attachRpc @5 (nodeLink :Text, wallets :List(WalletFace), manager :Wallet) -> (error :Error);
  # Returns once the worker has loaded what it serves (it answers ping before that).
  waitLoaded @6 () -> (error :Error);
}
