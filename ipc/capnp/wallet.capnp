@0xcf8242b57c3465b4;
using import "common.capnp".Error;

interface Wallet {
  executeRpc @0 (method :Text, params :Text) -> (error :Error, result :Text);
}
