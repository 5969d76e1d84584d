@0xcfcabf4c74e92cf0;
# What a wallet needs from a node (Bitcoin Core's interfaces::Chain), and the
# callbacks it receives (interfaces::Chain::Notifications).
using import "common.capnp".Error;

struct BlockRef {
  height @0 :Int32;
  hash @1 :Text;
}

struct ConnectedBlock {
  height @0 :Int32;
  hash @1 :Text;
  prevHash @2 :Text;
  time @3 :UInt32;
  raw @4 :Data;
}

interface Handler {
  disconnect @0 () -> (error :Error);
}

interface ChainNotifications {
  blockConnected @0 (block :ConnectedBlock) -> (error :Error);
  blockDisconnected @1 (block :ConnectedBlock) -> (error :Error);
  transactionAddedToMempool @2 (tx :Data) -> (error :Error);
  transactionRemovedFromMempool @3 (txid :Text, reason :Text) -> (error :Error);
  chainStateFlushed @4 (tip :BlockRef) -> (error :Error);
}

interface Chain {
  tip @0 () -> (error :Error, result :BlockRef);
  blockHash @1 (height :Int32) -> (error :Error, result :Text);
  block @2 (hash :Text) -> (error :Error, result :ConnectedBlock);
  findFork @3 (locator :List(Text)) -> (error :Error, result :BlockRef);
  mempoolTransactions @4 () -> (error :Error, result :List(Data));
  broadcastTransaction @5 (tx :Data) -> (error :Error, result :Text);
  relayMinFee @6 () -> (error :Error, result :Int64);
  handleNotifications @7 (notifications :ChainNotifications) -> (error :Error, result :Handler);
}
