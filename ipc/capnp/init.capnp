@0xfe0e6f603559265c;
using import "common.capnp".Error;

interface Init {
  ping @0 () -> (error :Error);
  shutdown @1 () -> (error :Error);
}
