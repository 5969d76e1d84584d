@0xcaa51cd3a9988559;
using import "common.capnp".Error;

interface Node {
  # Bitcoin Core's interfaces::Node::executeRpc: a node method by name with
  # its parameters as JSON text (an array or an object); the result as JSON text.
  executeRpc @0 (method :Text, params :Text) -> (error :Error, result :Text);
  # interfaces::Node::listRpcCommands: every method executeRpc serves.
  listRpcCommands @1 () -> (error :Error, result :List(Text));
}
