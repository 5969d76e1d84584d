@0xcaa51cd3a9988559;
using import "common.capnp".Error;

interface Node {
  # Bitcoin Core's interfaces::Node::executeRpc: a node method by name with
  # bitcoin-cli's words as parameters; the result as JSON text.
  executeRpc @0 (method :Text, params :List(Text)) -> (error :Error, result :Text);
}
