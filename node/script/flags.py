"""Script verification flags (Core's script/verify_flags.h, interpreter.h, policy.h).

The bit positions are Core's, so a flags value means the same here as there. The
interpreter works on plain ints (an IntFlag operation costs a microsecond); the
``F_*`` constants are those ints.
"""

from __future__ import annotations

import enum


class Flags(enum.IntFlag):
    """Core's SCRIPT_VERIFY_* flags, same names, same bits."""

    NONE = 0
    P2SH = 1 << 0
    STRICTENC = 1 << 1
    DERSIG = 1 << 2
    LOW_S = 1 << 3
    NULLDUMMY = 1 << 4
    SIGPUSHONLY = 1 << 5
    MINIMALDATA = 1 << 6
    DISCOURAGE_UPGRADABLE_NOPS = 1 << 7
    CLEANSTACK = 1 << 8
    CHECKLOCKTIMEVERIFY = 1 << 9
    CHECKSEQUENCEVERIFY = 1 << 10
    WITNESS = 1 << 11
    DISCOURAGE_UPGRADABLE_WITNESS_PROGRAM = 1 << 12
    MINIMALIF = 1 << 13
    NULLFAIL = 1 << 14
    WITNESS_PUBKEYTYPE = 1 << 15
    CONST_SCRIPTCODE = 1 << 16
    TAPROOT = 1 << 17
    DISCOURAGE_UPGRADABLE_TAPROOT_VERSION = 1 << 18
    DISCOURAGE_OP_SUCCESS = 1 << 19
    DISCOURAGE_UPGRADABLE_PUBKEYTYPE = 1 << 20


FLAG_NAMES: dict[str, Flags] = {f.name: f for f in Flags if f.name and f is not Flags.NONE}
MAX_SCRIPT_VERIFY_FLAGS_BITS = 21

# Core's MANDATORY_SCRIPT_VERIFY_FLAGS.
MANDATORY_FLAGS = (
    Flags.P2SH
    | Flags.DERSIG
    | Flags.NULLDUMMY
    | Flags.CHECKLOCKTIMEVERIFY
    | Flags.CHECKSEQUENCEVERIFY
    | Flags.WITNESS
    | Flags.TAPROOT
)

# Regtest's buried deployments (kernel/chainparams.cpp CRegTestParams).
BIP65_HEIGHT = 1  # CHECKLOCKTIMEVERIFY
BIP66_HEIGHT = 1  # strict DER
CSV_HEIGHT = 1  # CHECKSEQUENCEVERIFY (BIP68, 112, 113)
SEGWIT_HEIGHT = 0  # and NULLDUMMY (BIP147) with it


def block_script_flags(height: int) -> Flags:
    """Core's GetBlockScriptFlags for a regtest block at ``height``: P2SH, WITNESS and
    TAPROOT always (regtest has no exception blocks), the buried deployments from their
    heights. From height 1 on, which is every block with scripts to check, these are
    exactly MANDATORY_FLAGS."""
    flags = Flags.P2SH | Flags.WITNESS | Flags.TAPROOT
    if height >= BIP66_HEIGHT:
        flags |= Flags.DERSIG
    if height >= BIP65_HEIGHT:
        flags |= Flags.CHECKLOCKTIMEVERIFY
    if height >= CSV_HEIGHT:
        flags |= Flags.CHECKSEQUENCEVERIFY
    if height >= SEGWIT_HEIGHT:
        flags |= Flags.NULLDUMMY
    return flags


BLOCK_FLAGS = block_script_flags(1)  # == MANDATORY_FLAGS

# Core's STANDARD_SCRIPT_VERIFY_FLAGS: what the mempool checks.
STANDARD_FLAGS = (
    MANDATORY_FLAGS
    | Flags.STRICTENC
    | Flags.MINIMALDATA
    | Flags.DISCOURAGE_UPGRADABLE_NOPS
    | Flags.CLEANSTACK
    | Flags.MINIMALIF
    | Flags.NULLFAIL
    | Flags.LOW_S
    | Flags.DISCOURAGE_UPGRADABLE_WITNESS_PROGRAM
    | Flags.WITNESS_PUBKEYTYPE
    | Flags.CONST_SCRIPTCODE
    | Flags.DISCOURAGE_UPGRADABLE_TAPROOT_VERSION
    | Flags.DISCOURAGE_OP_SUCCESS
    | Flags.DISCOURAGE_UPGRADABLE_PUBKEYTYPE
)
STANDARD_NOT_MANDATORY_FLAGS = STANDARD_FLAGS & ~MANDATORY_FLAGS

F_P2SH = int(Flags.P2SH)
F_STRICTENC = int(Flags.STRICTENC)
F_DERSIG = int(Flags.DERSIG)
F_LOW_S = int(Flags.LOW_S)
F_NULLDUMMY = int(Flags.NULLDUMMY)
F_SIGPUSHONLY = int(Flags.SIGPUSHONLY)
F_MINIMALDATA = int(Flags.MINIMALDATA)
F_DISCOURAGE_UPGRADABLE_NOPS = int(Flags.DISCOURAGE_UPGRADABLE_NOPS)
F_CLEANSTACK = int(Flags.CLEANSTACK)
F_CHECKLOCKTIMEVERIFY = int(Flags.CHECKLOCKTIMEVERIFY)
F_CHECKSEQUENCEVERIFY = int(Flags.CHECKSEQUENCEVERIFY)
F_WITNESS = int(Flags.WITNESS)
F_DISCOURAGE_UPGRADABLE_WITNESS_PROGRAM = int(Flags.DISCOURAGE_UPGRADABLE_WITNESS_PROGRAM)
F_MINIMALIF = int(Flags.MINIMALIF)
F_NULLFAIL = int(Flags.NULLFAIL)
F_WITNESS_PUBKEYTYPE = int(Flags.WITNESS_PUBKEYTYPE)
F_CONST_SCRIPTCODE = int(Flags.CONST_SCRIPTCODE)
F_TAPROOT = int(Flags.TAPROOT)
F_DISCOURAGE_UPGRADABLE_TAPROOT_VERSION = int(Flags.DISCOURAGE_UPGRADABLE_TAPROOT_VERSION)
F_DISCOURAGE_OP_SUCCESS = int(Flags.DISCOURAGE_OP_SUCCESS)
F_DISCOURAGE_UPGRADABLE_PUBKEYTYPE = int(Flags.DISCOURAGE_UPGRADABLE_PUBKEYTYPE)
F_STANDARD_NOT_MANDATORY = int(STANDARD_NOT_MANDATORY_FLAGS)


def parse_flags(text: str) -> int:
    """Core's ParseScriptFlags: "P2SH,STRICTENC" (or "" / "NONE") to the flag bits."""
    if text in ("", "NONE"):
        return 0
    flags = 0
    for word in text.split(","):
        if word not in FLAG_NAMES:
            raise ValueError(f"unknown verification flag {word!r}")
        flags |= FLAG_NAMES[word]
    return flags


def valid_flag_combination(flags: int) -> bool:
    """What Core's VerifyScript asserts: CLEANSTACK needs P2SH and WITNESS, WITNESS needs P2SH."""
    if flags & F_CLEANSTACK and (~flags & (F_P2SH | F_WITNESS)):
        return False
    return not (flags & F_WITNESS and not flags & F_P2SH)
