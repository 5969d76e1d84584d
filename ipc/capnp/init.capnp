@0xfe0e6f603559265c;
using import "common.capnp".Error;
using import "chain.capnp".Chain;
using import "node.capnp".Node;
using import "wallet.capnp".Wallet;

interface Init {
  ping @0 () -> (error :Error);
  shutdown @1 () -> (error :Error);
  makeNode @2 () -> (error :Error, result :Node);
  makeChain @3 () -> (error :Error, result :Chain);
  makeWallet @4 (chain :Chain) -> (error :Error, result :Wallet);
}
