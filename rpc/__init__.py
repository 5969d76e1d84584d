"""Bitcoin Core's JSON-RPC, for every role: method specs, the dispatcher, help, bitcoin-cli's
conversion, and the HTTP gateway."""
