@0x97c94fc72ffe58cd;
using import "common.capnp".Error;
using import "node.capnp".Node;
using import "wallet.capnp".Wallet;

struct ExitInfo {
  at @0 :Text;
  code :union {
    none @1 :Void;
    value @2 :Int32;
  }
  signal @3 :Text;
}

struct WorkerStatus {
  name @0 :Text;
  role @1 :Text;
  state @2 :Text;
  pid :union {
    none @3 :Void;
    value @4 :Int32;
  }
  generation @5 :UInt32;
  restarts @6 :UInt32;
  uptimeS :union {
    none @7 :Void;
    value @8 :Float64;
  }
  lastExit @9 :ExitInfo;
  loaded @10 :Bool;
}

struct RpcStatus {
  url @0 :Text;
}

struct SupervisorStatus {
  pid @0 :Int32;
  uptimeS @1 :Float64;
  version @2 :Text;
  workers @3 :List(WorkerStatus);
  rpc @4 :RpcStatus;
}

interface Control {
  status @0 () -> (error :Error, result :SupervisorStatus);
  stop @1 () -> (error :Error);
  restart @2 (worker :Text) -> (error :Error);
  node @3 () -> (error :Error, result :Node);
  wallet @4 (name :Text) -> (error :Error, result :Wallet);
  walletManager @5 () -> (error :Error, result :Wallet);
}
