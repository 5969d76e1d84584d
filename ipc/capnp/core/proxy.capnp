# libmultiprocess's include/mp/proxy.capnp (as vendored in Bitcoin Core's src/ipc/libmultiprocess),
# wire-compatible: the same file ID, names, ordinals and types. Its annotations are declared
# as there (they are nodes of this file, with IDs of their own) and used nowhere: they drive
# Core's C++ code generator only. No "/capnp/c++.capnp" import: its $Cxx.namespace changes no ID.

@0xcc316e3f71a040fb;

annotation include(file): Text;
annotation includeTypes(file): Text;
annotation wrap(interface, struct): Text;
annotation count(param, struct, interface): Int32;
annotation exception(param): Text;
annotation name(field, method): Text;
annotation skip(field): Void;

interface ThreadMap {
    # Clients create and name server threads; a Python server runs every call on its one
    # event loop and hands out a Thread that only knows its name.
    makeThread @0 (name :Text) -> (result :Thread);
}

interface Thread {
    getName @0 () -> (result: Text);
}

struct Context {
   # Passed with every call. The server accepts any thread here (even one still being
   # made, a pipelined promise) and requires none.
   thread @0 : Thread;
   callbackThread @1 : Thread;
}
