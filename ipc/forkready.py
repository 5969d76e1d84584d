"""The last module the forkserver imports, after the worker modules: it makes ready, once,
what every worker would otherwise build in its first milliseconds, then freezes it.

- The proxy and adapter classes of every interface (signatures, type hints, schema
  subclasses): built here, a forked worker serves ``Init`` without building them.
- ``gc.freeze()``: everything imported so far leaves the collector's generations, so a
  worker's first collections do not walk (and so copy, page by page) the objects it
  shares with the forkserver. What a worker allocates itself is collected as ever.
"""

from __future__ import annotations

import gc

from ipc.capnp import proxy

proxy.prepare()
gc.freeze()
