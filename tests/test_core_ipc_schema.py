"""Our copies of Bitcoin Core's IPC schemas carry Core's wire: every node ID, every method
and field ordinal, type, offset and default, checked against a table made from Core's own
files. A Cap'n Proto peer matches interfaces by ID and methods and fields by ordinal and
type, so any drift here would break a client written for bitcoin-node.

``EXPECTED`` was generated once, from Bitcoin Core master (31.99) src/ipc/capnp/{init,echo,
mining,common,rpc}.capnp and src/ipc/libmultiprocess/include/mp/proxy.capnp, loaded with
pycapnp (annotations and all):

    python -m tests.test_core_ipc_schema /path/to/bitcoin/src > table.txt

(run on its own: one process cannot load Core's files and ours, which share their IDs).
"""

# ruff: noqa: E501 (EXPECTED's rows are one fact a line, as generated)

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

FILES = ("proxy", "common", "echo", "mining", "rpc", "init")
POINTERS = ("text", "data", "list", "struct", "interface", "anyPointer")


def type_text(kind: Any) -> str:
    which = kind.which()
    if which == "list":
        return f"List({type_text(kind.list.elementType)})"
    if which in ("struct", "interface", "enum"):
        return f"{which}@{getattr(kind, which).typeId:#018x}"
    return str(which)


def value_text(value: Any) -> str:
    which = value.which()
    return str(which) if which in POINTERS else f"{which} {getattr(value, which)!r}"


def struct_rows(key: str, node: Any, out: dict[str, str]) -> None:
    struct = node.struct
    out[key] = f"struct @{node.id:#018x} {struct.dataWordCount}w {struct.pointerCount}p"
    for field in struct.fields:
        assert field.which() == "slot", "no groups or unions in Core's IPC schemas"
        slot = field.slot
        out[f"{key}.{field.name}"] = (
            f"@{field.ordinal.explicit} +{slot.offset} :{type_text(slot.type)}"
            f" = {value_text(slot.defaultValue)}"
        )


def table_of(module: Any) -> dict[str, str]:
    """Every wire fact of a loaded schema file, one row per node, method and field."""
    file_node = module.schema.node
    name = Path(str(file_node.displayName)).name
    out = {name: f"file @{file_node.id:#018x}"}
    for nested in file_node.nestedNodes:
        schema = module.schema.get_nested(nested.name)
        node = schema.node
        key = f"{name}:{nested.name}"
        which = node.which()
        if which == "struct":
            struct_rows(key, node, out)
        elif which == "interface":
            interface = schema.as_interface()
            supers = [f"{s.id:#018x}" for s in node.interface.superclasses]
            out[key] = f"interface @{node.id:#018x} extends {supers}"
            for ordinal, method in enumerate(node.interface.methods):
                out[f"{key}.{method.name}"] = f"@{ordinal}"
                found = interface.methods[method.name]
                struct_rows(f"{key}.{method.name}(params)", found.param_type.node, out)
                struct_rows(f"{key}.{method.name}(results)", found.result_type.node, out)
        elif which == "const":
            out[key] = (
                f"const @{node.id:#018x} :{type_text(node.const.type)}"
                f" = {value_text(node.const.value)}"
            )
        elif which == "annotation":
            out[key] = f"annotation @{node.id:#018x} :{type_text(node.annotation.type)}"
        else:
            out[key] = f"{which} @{node.id:#018x}"
    return out


def test_our_schemas_carry_cores_wire() -> None:
    from ipc.capnp.coreipc import CORE

    ours: dict[str, str] = {}
    for name in FILES:
        ours.update(table_of(getattr(CORE, name)))
    missing = sorted(set(EXPECTED) - set(ours))
    extra = sorted(set(ours) - set(EXPECTED))
    differ = sorted(key for key in set(ours) & set(EXPECTED) if ours[key] != EXPECTED[key])
    assert not missing and not extra, f"missing {missing}, extra {extra}"
    assert not differ, "\n".join(f"{k}: ours {ours[k]!r}, Core's {EXPECTED[k]!r}" for k in differ)


def test_the_table_covers_what_clients_rely_on() -> None:
    """The IDs the issue names, and a few facts Core's own Python tests depend on."""
    assert EXPECTED["init.capnp"] == "file @0xf2c5cfa319406aa6"
    assert EXPECTED["mining.capnp"] == "file @0xc77d03df6a41b505"
    assert EXPECTED["common.capnp"] == "file @0xcd2c6232cb484a28"
    assert EXPECTED["echo.capnp"] == "file @0x888b4f7f51e691f7"
    assert EXPECTED["rpc.capnp"] == "file @0x9c3505dc45e146ac"
    assert EXPECTED["proxy.capnp"] == "file @0xcc316e3f71a040fb"
    assert EXPECTED["init.capnp:Init.makeMining"] == "@3"
    assert EXPECTED["init.capnp:Init.makeMiningOld2"] == "@2"
    assert EXPECTED["mining.capnp:BlockWaitOptions.feeThreshold"].endswith(
        "= int64 2100000000000000"
    )


def _core_table(src: Path) -> dict[str, str]:
    import capnp

    mp = src / "ipc" / "libmultiprocess" / "include"
    imports = [str(mp), str(Path(capnp.__path__[0]).parent), str(src)]
    table: dict[str, str] = {}
    for name in FILES:
        path = (
            mp / "mp" / "proxy.capnp"
            if name == "proxy"
            else src / "ipc" / "capnp" / f"{name}.capnp"
        )
        table.update(table_of(capnp.load(str(path), imports=imports)))
    return table


if __name__ == "__main__":
    for key, value in _core_table(Path(sys.argv[1])).items():
        print(f"    {key!r}: {value!r},")


# Made by this module's __main__ from Bitcoin Core master (31.99): see the docstring.
EXPECTED: dict[str, str] = {
    "proxy.capnp": "file @0xcc316e3f71a040fb",
    "proxy.capnp:include": "annotation @0xb899f3c154fdb458 :text",
    "proxy.capnp:includeTypes": "annotation @0xbcec15648e8a0cf1 :text",
    "proxy.capnp:wrap": "annotation @0xe6f46079b7b1405e :text",
    "proxy.capnp:count": "annotation @0xd02682b319f69b38 :int32",
    "proxy.capnp:exception": "annotation @0x996a183200992f88 :text",
    "proxy.capnp:name": "annotation @0xb594888f63f4dbb9 :text",
    "proxy.capnp:skip": "annotation @0x824c08b82695d8dd :void",
    "proxy.capnp:ThreadMap": "interface @0xee5e37179ad9dc9d extends []",
    "proxy.capnp:ThreadMap.makeThread": "@0",
    "proxy.capnp:ThreadMap.makeThread(params)": "struct @0xc7dce7fe036b26d4 0w 1p",
    "proxy.capnp:ThreadMap.makeThread(params).name": "@0 +0 :text = text",
    "proxy.capnp:ThreadMap.makeThread(results)": "struct @0xbbafb2ed83f6268d 0w 1p",
    "proxy.capnp:ThreadMap.makeThread(results).result": "@0 +0 :interface@0x81c1e2600d0b56c5 = interface",
    "proxy.capnp:Thread": "interface @0x81c1e2600d0b56c5 extends []",
    "proxy.capnp:Thread.getName": "@0",
    "proxy.capnp:Thread.getName(params)": "struct @0x91b503837a7fb9c6 0w 0p",
    "proxy.capnp:Thread.getName(results)": "struct @0xf75eedb886b95bdc 0w 1p",
    "proxy.capnp:Thread.getName(results).result": "@0 +0 :text = text",
    "proxy.capnp:Context": "struct @0x9c44e6645d0b22c6 0w 2p",
    "proxy.capnp:Context.thread": "@0 +0 :interface@0x81c1e2600d0b56c5 = interface",
    "proxy.capnp:Context.callbackThread": "@1 +1 :interface@0x81c1e2600d0b56c5 = interface",
    "common.capnp": "file @0xcd2c6232cb484a28",
    "common.capnp:BlockRef": "struct @0xb3be4b8949350369 1w 1p",
    "common.capnp:BlockRef.hash": "@0 +0 :data = data",
    "common.capnp:BlockRef.height": "@1 +0 :int32 = int32 0",
    "echo.capnp": "file @0x888b4f7f51e691f7",
    "echo.capnp:Echo": "interface @0xd36b89640dc94399 extends []",
    "echo.capnp:Echo.destroy": "@0",
    "echo.capnp:Echo.destroy(params)": "struct @0xb96f2f4cb65dfb85 0w 1p",
    "echo.capnp:Echo.destroy(params).context": "@0 +0 :struct@0x9c44e6645d0b22c6 = struct",
    "echo.capnp:Echo.destroy(results)": "struct @0xb43ed7d38d868aff 0w 0p",
    "echo.capnp:Echo.echo": "@1",
    "echo.capnp:Echo.echo(params)": "struct @0xc6b88006c24cbd0e 0w 2p",
    "echo.capnp:Echo.echo(params).context": "@0 +0 :struct@0x9c44e6645d0b22c6 = struct",
    "echo.capnp:Echo.echo(params).echo": "@1 +1 :text = text",
    "echo.capnp:Echo.echo(results)": "struct @0x9d6bbfd9d85b1331 0w 1p",
    "echo.capnp:Echo.echo(results).result": "@0 +0 :text = text",
    "mining.capnp": "file @0xc77d03df6a41b505",
    "mining.capnp:maxMoney": "const @0x895d3c3ab1c80b14 :int64 = int64 2100000000000000",
    "mining.capnp:maxDouble": "const @0x90fa0dee435f19a6 :float64 = float64 1.7976931348623157e+308",
    "mining.capnp:defaultBlockReservedWeight": "const @0xd79ce061d3167841 :uint32 = uint32 8000",
    "mining.capnp:defaultCoinbaseOutputMaxAdditionalSigops": "const @0x9c05d9dcd5e01942 :uint32 = uint32 400",
    "mining.capnp:Mining": "interface @0xf9c68436df3af39e extends []",
    "mining.capnp:Mining.isTestChain": "@0",
    "mining.capnp:Mining.isTestChain(params)": "struct @0xd62a851f0a406fba 0w 1p",
    "mining.capnp:Mining.isTestChain(params).context": "@0 +0 :struct@0x9c44e6645d0b22c6 = struct",
    "mining.capnp:Mining.isTestChain(results)": "struct @0xd26da946a6fc07cb 1w 0p",
    "mining.capnp:Mining.isTestChain(results).result": "@0 +0 :bool = bool False",
    "mining.capnp:Mining.isInitialBlockDownload": "@1",
    "mining.capnp:Mining.isInitialBlockDownload(params)": "struct @0xc086cb7153ed88c8 0w 1p",
    "mining.capnp:Mining.isInitialBlockDownload(params).context": "@0 +0 :struct@0x9c44e6645d0b22c6 = struct",
    "mining.capnp:Mining.isInitialBlockDownload(results)": "struct @0x8aaddcee1cb5abe0 1w 0p",
    "mining.capnp:Mining.isInitialBlockDownload(results).result": "@0 +0 :bool = bool False",
    "mining.capnp:Mining.getTip": "@2",
    "mining.capnp:Mining.getTip(params)": "struct @0xa6680fe2b3201a1e 0w 1p",
    "mining.capnp:Mining.getTip(params).context": "@0 +0 :struct@0x9c44e6645d0b22c6 = struct",
    "mining.capnp:Mining.getTip(results)": "struct @0xcdbd83d7b2442034 1w 1p",
    "mining.capnp:Mining.getTip(results).result": "@0 +0 :struct@0xb3be4b8949350369 = struct",
    "mining.capnp:Mining.getTip(results).hasResult": "@1 +0 :bool = bool False",
    "mining.capnp:Mining.waitTipChanged": "@3",
    "mining.capnp:Mining.waitTipChanged(params)": "struct @0xe2dfd3582b92b229 1w 2p",
    "mining.capnp:Mining.waitTipChanged(params).context": "@0 +0 :struct@0x9c44e6645d0b22c6 = struct",
    "mining.capnp:Mining.waitTipChanged(params).currentTip": "@1 +1 :data = data",
    "mining.capnp:Mining.waitTipChanged(params).timeout": "@2 +0 :float64 = float64 1.7976931348623157e+308",
    "mining.capnp:Mining.waitTipChanged(results)": "struct @0x8f132f96e3f130ea 0w 1p",
    "mining.capnp:Mining.waitTipChanged(results).result": "@0 +0 :struct@0xb3be4b8949350369 = struct",
    "mining.capnp:Mining.createNewBlock": "@4",
    "mining.capnp:Mining.createNewBlock(params)": "struct @0xf23d59d452aea8de 1w 2p",
    "mining.capnp:Mining.createNewBlock(params).context": "@0 +0 :struct@0x9c44e6645d0b22c6 = struct",
    "mining.capnp:Mining.createNewBlock(params).options": "@1 +1 :struct@0x80fca083ef81a559 = struct",
    "mining.capnp:Mining.createNewBlock(params).cooldown": "@2 +0 :bool = bool True",
    "mining.capnp:Mining.createNewBlock(results)": "struct @0xa0b06cebf3da9e15 0w 1p",
    "mining.capnp:Mining.createNewBlock(results).result": "@0 +0 :interface@0xf9671ad841b2f622 = interface",
    "mining.capnp:Mining.checkBlock": "@5",
    "mining.capnp:Mining.checkBlock(params)": "struct @0x93a3f56b84a97b70 0w 3p",
    "mining.capnp:Mining.checkBlock(params).context": "@0 +0 :struct@0x9c44e6645d0b22c6 = struct",
    "mining.capnp:Mining.checkBlock(params).block": "@1 +1 :data = data",
    "mining.capnp:Mining.checkBlock(params).options": "@2 +2 :struct@0x89f3f39b6c9dd162 = struct",
    "mining.capnp:Mining.checkBlock(results)": "struct @0xa6eb9eb6f5c4e0d0 1w 2p",
    "mining.capnp:Mining.checkBlock(results).reason": "@0 +0 :text = text",
    "mining.capnp:Mining.checkBlock(results).debug": "@1 +1 :text = text",
    "mining.capnp:Mining.checkBlock(results).result": "@2 +0 :bool = bool False",
    "mining.capnp:Mining.interrupt": "@6",
    "mining.capnp:Mining.interrupt(params)": "struct @0xa7258ce6c158ebe0 0w 0p",
    "mining.capnp:Mining.interrupt(results)": "struct @0xef712094c22c332c 0w 0p",
    "mining.capnp:BlockTemplate": "interface @0xf9671ad841b2f622 extends []",
    "mining.capnp:BlockTemplate.destroy": "@0",
    "mining.capnp:BlockTemplate.destroy(params)": "struct @0x898c75958f8eab40 0w 1p",
    "mining.capnp:BlockTemplate.destroy(params).context": "@0 +0 :struct@0x9c44e6645d0b22c6 = struct",
    "mining.capnp:BlockTemplate.destroy(results)": "struct @0xb277e9484368f871 0w 0p",
    "mining.capnp:BlockTemplate.getBlockHeader": "@1",
    "mining.capnp:BlockTemplate.getBlockHeader(params)": "struct @0xbc6e961d0c9fabcb 0w 1p",
    "mining.capnp:BlockTemplate.getBlockHeader(params).context": "@0 +0 :struct@0x9c44e6645d0b22c6 = struct",
    "mining.capnp:BlockTemplate.getBlockHeader(results)": "struct @0xbe44866bf53ba50f 0w 1p",
    "mining.capnp:BlockTemplate.getBlockHeader(results).result": "@0 +0 :data = data",
    "mining.capnp:BlockTemplate.getBlock": "@2",
    "mining.capnp:BlockTemplate.getBlock(params)": "struct @0xb57adc0c09d3d8b9 0w 1p",
    "mining.capnp:BlockTemplate.getBlock(params).context": "@0 +0 :struct@0x9c44e6645d0b22c6 = struct",
    "mining.capnp:BlockTemplate.getBlock(results)": "struct @0xda570962f86bbd3b 0w 1p",
    "mining.capnp:BlockTemplate.getBlock(results).result": "@0 +0 :data = data",
    "mining.capnp:BlockTemplate.getTxFees": "@3",
    "mining.capnp:BlockTemplate.getTxFees(params)": "struct @0xfc48c88871b654d6 0w 1p",
    "mining.capnp:BlockTemplate.getTxFees(params).context": "@0 +0 :struct@0x9c44e6645d0b22c6 = struct",
    "mining.capnp:BlockTemplate.getTxFees(results)": "struct @0xce9419e947d3af78 0w 1p",
    "mining.capnp:BlockTemplate.getTxFees(results).result": "@0 +0 :List(int64) = list",
    "mining.capnp:BlockTemplate.getTxSigops": "@4",
    "mining.capnp:BlockTemplate.getTxSigops(params)": "struct @0x8f4dadf0be3aee81 0w 1p",
    "mining.capnp:BlockTemplate.getTxSigops(params).context": "@0 +0 :struct@0x9c44e6645d0b22c6 = struct",
    "mining.capnp:BlockTemplate.getTxSigops(results)": "struct @0xcf916f95f6f774fb 0w 1p",
    "mining.capnp:BlockTemplate.getTxSigops(results).result": "@0 +0 :List(int64) = list",
    "mining.capnp:BlockTemplate.getCoinbaseTx": "@5",
    "mining.capnp:BlockTemplate.getCoinbaseTx(params)": "struct @0xfd4337e403fdc1b8 0w 1p",
    "mining.capnp:BlockTemplate.getCoinbaseTx(params).context": "@0 +0 :struct@0x9c44e6645d0b22c6 = struct",
    "mining.capnp:BlockTemplate.getCoinbaseTx(results)": "struct @0xe194427de3eafd96 0w 1p",
    "mining.capnp:BlockTemplate.getCoinbaseTx(results).result": "@0 +0 :struct@0xdc399c6d34ae7e69 = struct",
    "mining.capnp:BlockTemplate.getCoinbaseMerklePath": "@6",
    "mining.capnp:BlockTemplate.getCoinbaseMerklePath(params)": "struct @0xa12657e0ad662f4b 0w 1p",
    "mining.capnp:BlockTemplate.getCoinbaseMerklePath(params).context": "@0 +0 :struct@0x9c44e6645d0b22c6 = struct",
    "mining.capnp:BlockTemplate.getCoinbaseMerklePath(results)": "struct @0xda952a06f76488ff 0w 1p",
    "mining.capnp:BlockTemplate.getCoinbaseMerklePath(results).result": "@0 +0 :List(data) = list",
    "mining.capnp:BlockTemplate.submitSolution": "@7",
    "mining.capnp:BlockTemplate.submitSolution(params)": "struct @0xf6e81eb0866e3b87 2w 2p",
    "mining.capnp:BlockTemplate.submitSolution(params).context": "@0 +0 :struct@0x9c44e6645d0b22c6 = struct",
    "mining.capnp:BlockTemplate.submitSolution(params).version": "@1 +0 :uint32 = uint32 0",
    "mining.capnp:BlockTemplate.submitSolution(params).timestamp": "@2 +1 :uint32 = uint32 0",
    "mining.capnp:BlockTemplate.submitSolution(params).nonce": "@3 +2 :uint32 = uint32 0",
    "mining.capnp:BlockTemplate.submitSolution(params).coinbase": "@4 +1 :data = data",
    "mining.capnp:BlockTemplate.submitSolution(results)": "struct @0x97f6899fb5e3c15f 1w 0p",
    "mining.capnp:BlockTemplate.submitSolution(results).result": "@0 +0 :bool = bool False",
    "mining.capnp:BlockTemplate.waitNext": "@8",
    "mining.capnp:BlockTemplate.waitNext(params)": "struct @0xb726a965fac04db3 0w 2p",
    "mining.capnp:BlockTemplate.waitNext(params).context": "@0 +0 :struct@0x9c44e6645d0b22c6 = struct",
    "mining.capnp:BlockTemplate.waitNext(params).options": "@1 +1 :struct@0x9ba437d9de0c452e = struct",
    "mining.capnp:BlockTemplate.waitNext(results)": "struct @0xdafdbfbfce655b00 0w 1p",
    "mining.capnp:BlockTemplate.waitNext(results).result": "@0 +0 :interface@0xf9671ad841b2f622 = interface",
    "mining.capnp:BlockTemplate.interruptWait": "@9",
    "mining.capnp:BlockTemplate.interruptWait(params)": "struct @0xb889895bf2d4ecb1 0w 0p",
    "mining.capnp:BlockTemplate.interruptWait(results)": "struct @0xfe3cdff3007f0bc2 0w 0p",
    "mining.capnp:BlockCreateOptions": "struct @0x80fca083ef81a559 3w 0p",
    "mining.capnp:BlockCreateOptions.useMempool": "@0 +0 :bool = bool True",
    "mining.capnp:BlockCreateOptions.blockReservedWeight": "@1 +1 :uint64 = uint64 8000",
    "mining.capnp:BlockCreateOptions.coinbaseOutputMaxAdditionalSigops": "@2 +2 :uint64 = uint64 400",
    "mining.capnp:BlockWaitOptions": "struct @0x9ba437d9de0c452e 2w 0p",
    "mining.capnp:BlockWaitOptions.timeout": "@0 +0 :float64 = float64 1.7976931348623157e+308",
    "mining.capnp:BlockWaitOptions.feeThreshold": "@1 +1 :int64 = int64 2100000000000000",
    "mining.capnp:BlockCheckOptions": "struct @0x89f3f39b6c9dd162 1w 0p",
    "mining.capnp:BlockCheckOptions.checkMerkleRoot": "@0 +0 :bool = bool True",
    "mining.capnp:BlockCheckOptions.checkPow": "@1 +1 :bool = bool True",
    "mining.capnp:CoinbaseTx": "struct @0xdc399c6d34ae7e69 3w 3p",
    "mining.capnp:CoinbaseTx.version": "@0 +0 :uint32 = uint32 0",
    "mining.capnp:CoinbaseTx.sequence": "@1 +1 :uint32 = uint32 0",
    "mining.capnp:CoinbaseTx.scriptSigPrefix": "@2 +0 :data = data",
    "mining.capnp:CoinbaseTx.witness": "@3 +1 :data = data",
    "mining.capnp:CoinbaseTx.blockRewardRemaining": "@4 +1 :int64 = int64 0",
    "mining.capnp:CoinbaseTx.requiredOutputs": "@5 +2 :List(data) = list",
    "mining.capnp:CoinbaseTx.lockTime": "@6 +4 :uint32 = uint32 0",
    "rpc.capnp": "file @0x9c3505dc45e146ac",
    "rpc.capnp:Rpc": "interface @0xacb1d37f0a713129 extends []",
    "rpc.capnp:Rpc.executeRpc": "@0",
    "rpc.capnp:Rpc.executeRpc(params)": "struct @0x94dcbf9f62fea914 0w 4p",
    "rpc.capnp:Rpc.executeRpc(params).context": "@0 +0 :struct@0x9c44e6645d0b22c6 = struct",
    "rpc.capnp:Rpc.executeRpc(params).request": "@1 +1 :text = text",
    "rpc.capnp:Rpc.executeRpc(params).uri": "@2 +2 :text = text",
    "rpc.capnp:Rpc.executeRpc(params).user": "@3 +3 :text = text",
    "rpc.capnp:Rpc.executeRpc(results)": "struct @0xa09ae0e7ef3d34d5 0w 1p",
    "rpc.capnp:Rpc.executeRpc(results).result": "@0 +0 :text = text",
    "init.capnp": "file @0xf2c5cfa319406aa6",
    "init.capnp:Init": "interface @0x8838c700ba5cba65 extends []",
    "init.capnp:Init.construct": "@0",
    "init.capnp:Init.construct(params)": "struct @0xd0094f43e65f70fa 0w 1p",
    "init.capnp:Init.construct(params).threadMap": "@0 +0 :interface@0xee5e37179ad9dc9d = interface",
    "init.capnp:Init.construct(results)": "struct @0xcff59c9cb0856a9d 0w 1p",
    "init.capnp:Init.construct(results).threadMap": "@0 +0 :interface@0xee5e37179ad9dc9d = interface",
    "init.capnp:Init.makeEcho": "@1",
    "init.capnp:Init.makeEcho(params)": "struct @0xd1eaffd3f12b7a9a 0w 1p",
    "init.capnp:Init.makeEcho(params).context": "@0 +0 :struct@0x9c44e6645d0b22c6 = struct",
    "init.capnp:Init.makeEcho(results)": "struct @0xc6b83de56dc761c7 0w 1p",
    "init.capnp:Init.makeEcho(results).result": "@0 +0 :interface@0xd36b89640dc94399 = interface",
    "init.capnp:Init.makeMiningOld2": "@2",
    "init.capnp:Init.makeMiningOld2(params)": "struct @0xecc9a12bacbb6a49 0w 0p",
    "init.capnp:Init.makeMiningOld2(results)": "struct @0xb40b3d0b48ea1c10 0w 0p",
    "init.capnp:Init.makeMining": "@3",
    "init.capnp:Init.makeMining(params)": "struct @0xf0919d79a695b715 0w 1p",
    "init.capnp:Init.makeMining(params).context": "@0 +0 :struct@0x9c44e6645d0b22c6 = struct",
    "init.capnp:Init.makeMining(results)": "struct @0x9b5015dfcf3b9509 0w 1p",
    "init.capnp:Init.makeMining(results).result": "@0 +0 :interface@0xf9c68436df3af39e = interface",
    "init.capnp:Init.makeRpc": "@4",
    "init.capnp:Init.makeRpc(params)": "struct @0xf11dc73bbf0383aa 0w 1p",
    "init.capnp:Init.makeRpc(params).context": "@0 +0 :struct@0x9c44e6645d0b22c6 = struct",
    "init.capnp:Init.makeRpc(results)": "struct @0xd8c71cdcfdae2edb 0w 1p",
    "init.capnp:Init.makeRpc(results).result": "@0 +0 :interface@0xacb1d37f0a713129 = interface",
}
