"""Core's AnalyzePSBT (src/node/psbt.cpp): where each input of a PSBT stands (has it its
UTXO, is it final, which role comes next, what is missing) and, when every input can be
sized, the finished transaction's estimated size and fee rate."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from embit.script import Script, Witness
from embit.transaction import Transaction

from btc.primitives import MAX_MONEY
from btc.psbt import Psbt
from btc.psbt_sign import (
    Solved,
    SpentOutput,
    Verify,
    copy_unsigned,
    final_fields,
    signed_and_verified,
    solve,
    spent_outputs,
    with_final,
)

ROLES = ("creator", "updater", "signer", "finalizer", "extractor")  # Core's PSBTRole order


@dataclass
class InputAnalysis:
    has_utxo: bool = False
    is_final: bool = False
    next: str = "extractor"
    missing: Solved | None = None


@dataclass
class Analysis:
    """Core's PSBTAnalysis."""

    inputs: list[InputAnalysis] = field(default_factory=list)
    next: str = "extractor"
    fee: int | None = None
    estimated_vsize: int | None = None
    error: str = ""

    def invalid(self, error: str) -> Analysis:
        """Core's SetInvalid."""
        return Analysis(next="creator", error=error)


def _money(value: int) -> bool:
    return 0 <= value <= MAX_MONEY


def analyze(  # noqa: PLR0912 (Core's AnalyzePSBT, step by step)
    psbt: Psbt, verify: Verify, vsize: Callable[[Transaction, Sequence[SpentOutput]], int]
) -> Analysis:
    """Core's AnalyzePSBT. ``vsize``: the sigop-adjusted virtual size of a finished
    transaction spending the given outputs."""
    result = Analysis()
    total_in, calc_fee = 0, True
    for index in range(len(psbt.tx.vin)):
        analysis = InputAnalysis()
        result.inputs.append(analysis)
        utxo = psbt.utxo(index)
        if utxo is not None:
            if not _money(utxo.value) or not _money(total_in + utxo.value):
                return result.invalid(f"PSBT is not valid. Input {index} has invalid value")
            total_in += utxo.value
            analysis.has_utxo = True
        else:
            analysis.next = "updater"
            calc_fee = False
        spk = utxo.script_pubkey.data if utxo is not None else b""
        if spk[:1] == b"\x6a" or len(spk) > 10_000:
            return result.invalid(f"PSBT is not valid. Input {index} spends unspendable output")
        if not signed_and_verified(psbt, index, verify):
            solved = solve(psbt, index, spk) if utxo is not None else Solved()
            complete = solved.solved and verify(
                with_final(psbt, index, solved.script_sig, solved.witness),
                index,
                spent_outputs(psbt),
            )
            if complete:
                analysis.next = "finalizer"
            else:
                analysis.missing = solved
                only_sigs = not (
                    solved.missing_pubkeys
                    or solved.missing_redeem_script
                    or solved.missing_witness_script
                )
                analysis.next = "signer" if only_sigs and solved.missing_sigs else "updater"
        elif utxo is not None:
            analysis.is_final = True
    result.next = min((a.next for a in result.inputs), key=ROLES.index, default="extractor")
    if not calc_fee:
        return result
    total_out = 0
    for out in psbt.tx.vout:
        if not _money(out.value) or not _money(total_out + out.value):
            return result.invalid("PSBT is not valid. Output amount invalid")
        total_out += out.value
    result.fee = total_in - total_out
    sized = copy_unsigned(psbt.tx)
    for index, txin in enumerate(sized.vin):
        if psbt.is_final(index):
            script_sig, witness = final_fields(psbt, index)
        else:
            utxo = psbt.utxo(index)
            solved = solve(psbt, index, utxo.script_pubkey.data, dummy=True) if utxo else None
            if solved is None or not solved.solved:
                return result
            script_sig, witness = solved.script_sig, solved.witness
        txin.script_sig = Script(script_sig)
        txin.witness = Witness(witness)
    result.estimated_vsize = vsize(sized, spent_outputs(psbt))
    return result
