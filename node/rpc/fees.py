"""The node's fee-estimation RPCs (Core's src/rpc/fees.cpp).

The node keeps no fee estimator (Core's CBlockPolicyEstimator): it answers as Core's does
before it has tracked a single confirmation, "Insufficient data or no feerate found", with
the target it would have clamped to, 0 (half of the zero blocks it has data for).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ipc.interfaces import RpcCode, RpcError
from rpc.spec import Param, Table, Type

if TYPE_CHECKING:
    from node.service import NodeService

TABLE = Table("node")
MAX_CONF_TARGET = 1008  # HighestTargetTracked(FeeEstimateHorizon::LONG_HALFLIFE)
FEE_MODES = ("unset", "economical", "conservative")
TRACKED_BLOCK_SPAN = 0  # Core's max(BlockSpan(), HistoricalBlockSpan()) with no data


@TABLE.method(
    "util",
    "Estimates the approximate fee per kilobyte needed for a transaction to begin\n"
    "confirmation within conf_target blocks if possible and return the number of blocks\n"
    "for which the estimate is valid. Uses virtual transaction size as defined\n"
    "in BIP 141 (witness data is discounted).",
    Param("conf_target", Type.NUM, "Confirmation target in blocks (1 - 1008)"),
    Param(
        "estimate_mode",
        Type.STR,
        "The fee estimate mode.\nWhether to return a more conservative estimate which also "
        "satisfies\na longer history. A conservative estimate potentially returns a\nhigher "
        "feerate and is more likely to be sufficient for the desired\ntarget, but is not as "
        "responsive to short term drops in the\nprevailing fee market. Must be one of "
        '(case insensitive):\n"unset"\n"economical"\n"conservative"',
        "economical",
    ),
    result="{...}    (json object) feerate, errors, blocks",
    examples=("6",),
)
async def estimatesmartfee(node: NodeService, conf_target: int, estimate_mode: str) -> Any:
    if not 1 <= conf_target <= MAX_CONF_TARGET:
        raise RpcError(
            RpcCode.INVALID_PARAMETER,
            f"Invalid conf_target, must be between 1 and {MAX_CONF_TARGET}",
        )
    if estimate_mode.upper() not in (mode.upper() for mode in FEE_MODES):
        modes = '", "'.join(FEE_MODES)
        raise RpcError(
            RpcCode.INVALID_PARAMETER,
            f'Invalid estimate_mode parameter, must be one of: "{modes}"',
        )
    # Core's estimateSmartFee: the target is clamped to MaxUsableEstimate() first.
    returned = min(max(conf_target, 2), MAX_CONF_TARGET, TRACKED_BLOCK_SPAN // 2)
    return {"errors": ["Insufficient data or no feerate found"], "blocks": returned}
