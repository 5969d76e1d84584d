"""Core's wallet-loading methods, served by the supervisor: loading a wallet is starting its
process (createwallet, loadwallet, unloadwallet, listwallets, listwalletdir).

Each wallet is ``<datadir>/wallets/NAME/wallet.sqlite`` and runs in a worker of its own
(``wallet-NAME``; ``wallet`` for ``default``). Which wallets load when splitd starts is
kept in ``<datadir>/wallets/startup.json``, as Core keeps its ``-wallet`` list in
settings.json: a wallet created or loaded joins it, one unloaded leaves it (unless
``load_on_startup`` says otherwise). ``wallets = [...]`` in the config loads those too.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from config import WALLET_NAME
from ipc.interfaces import RpcCode, RpcError, Wallet
from rpc.dispatch import Dispatcher
from rpc.spec import Param, Table, Type
from supervisor.spec import DEFAULT_WALLET

STARTUP_FILE = "startup.json"
WALLET_FILE = "wallet.sqlite"
TABLE = Table("supervisor")


def wallets_dir(datadir: Path) -> Path:
    return datadir / "wallets"


def read_startup(datadir: Path) -> list[str] | None:
    """The wallets to load at start, as last saved; None if none was ever saved."""
    try:
        saved = json.loads((wallets_dir(datadir) / STARTUP_FILE).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None  # unreadable: start with what the config says, and say so when saving
    names = saved.get("load") if isinstance(saved, dict) else None
    return [n for n in names if isinstance(n, str) and WALLET_NAME.fullmatch(n)] if names else []


def write_startup(datadir: Path, names: Sequence[str]) -> None:
    """Replace the startup list whole (a crash leaves the old or the new, never half)."""
    directory = wallets_dir(datadir)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = directory / f".{STARTUP_FILE}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(temporary, flags, 0o600)
    try:
        os.write(fd, (json.dumps({"load": list(names)}) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, directory / STARTUP_FILE)


def startup_wallets(datadir: Path, configured: Sequence[str] | None) -> list[str]:
    """Core's -wallet and settings.json together: the config's, then the saved ones; with
    neither, the default wallet."""
    saved = read_startup(datadir)
    if configured is None and saved is None:
        return [DEFAULT_WALLET]
    return list(dict.fromkeys([*(configured or []), *(saved or [])]))


def checked_name(name: str) -> str:
    if not WALLET_NAME.fullmatch(name):
        raise RpcError(
            RpcCode.INVALID_PARAMETER,
            f"Invalid wallet name {name!r}: splitd takes letters, digits, '_', '.' and '-'"
            " (up to 64, not starting with '.' or '-')",
        )
    return name


class WalletManager(Wallet):
    """The supervisor's face for wallet-loading methods: a ``Wallet`` so it travels as one."""

    peer = "the supervisor"

    def __init__(
        self,
        datadir: Path,
        loaded: Callable[[], list[str]],
        load: Callable[[str], Awaitable[None]],
        unload: Callable[[str], Awaitable[None]],
        face: Callable[[str], Awaitable[Wallet]] | None = None,
    ) -> None:
        self.datadir = datadir
        self.loaded = loaded  # the names of the wallets loaded now, in load order
        self.load = load  # start a wallet's worker and wait until it is wired
        self.unload = unload
        self.face = face  # a loaded wallet's own face, to call its methods
        self.dispatcher = Dispatcher([TABLE], self, "the supervisor")

    async def execute_rpc(self, method: str, params: str) -> str:
        return await self.dispatcher.execute(method, params)

    async def list_rpc_commands(self) -> list[str]:
        return self.dispatcher.names()

    def path_of(self, name: str) -> Path:
        return wallets_dir(self.datadir) / name / WALLET_FILE

    def remember(self, name: str, load_on_startup: bool | None, *, loading: bool) -> None:
        """Keep the startup list in step: what loads joins, what unloads leaves, unless told."""
        keep = loading if load_on_startup is None else load_on_startup
        saved = read_startup(self.datadir)
        names = [n for n in (saved if saved is not None else self.loaded()) if n != name]
        write_startup(self.datadir, [*names, name] if keep else names)


LOAD_ON_STARTUP = Param(
    "load_on_startup",
    Type.BOOL,
    "Save wallet name to persistent settings and load on startup. True to add wallet to "
    "startup list, false to remove, null to leave unchanged.",
    None,
)


@TABLE.method(
    "wallet",
    "Creates and loads a new wallet.",
    Param("wallet_name", Type.STR, "The name for the new wallet."),
    Param("disable_private_keys", Type.BOOL, "Disable the possibility of private keys", False),
    Param("blank", Type.BOOL, "Create a blank wallet.", False),
    Param("passphrase", Type.STR, "Encrypt the wallet with this passphrase.", None),
    Param("avoid_reuse", Type.BOOL, "Keep track of coin reuse.", False),
    Param("descriptors", Type.BOOL, "Create a native descriptor wallet.", True),
    LOAD_ON_STARTUP,
    Param("external_signer", Type.BOOL, "Use an external signer such as a hardware wallet.", False),
    result="{name, warnings}",
    examples=('"testwallet"',),
)
async def createwallet(
    manager: WalletManager,
    wallet_name: str,
    disable_private_keys: bool,
    blank: bool,
    passphrase: str | None,
    avoid_reuse: bool,
    descriptors: bool,
    load_on_startup: bool | None,
    external_signer: bool,
) -> dict[str, Any]:
    name = checked_name(wallet_name)
    if not descriptors:
        raise RpcError(
            RpcCode.WALLET_ERROR,
            'descriptors argument must be set to "true"; it is no longer possible to create a '
            "legacy wallet.",
        )
    unsupported = {
        "disable_private_keys": disable_private_keys,
        "blank": blank,
        "avoid_reuse": avoid_reuse,
        "external_signer": external_signer,
    }
    if chosen := [option for option, on in unsupported.items() if on]:
        raise RpcError(RpcCode.INVALID_PARAMETER, f"splitd does not support {chosen[0]} yet")
    path = manager.path_of(name)
    if name in manager.loaded() or path.exists():
        raise RpcError(
            RpcCode.WALLET_ERROR,
            f"Wallet file verification failed. Failed to create database path '{path.parent}'."
            " Database already exists.",
        )
    await manager.load(name)
    manager.remember(name, load_on_startup, loading=True)
    if passphrase is None:
        return {"name": name}
    if not passphrase:
        warning = "Empty string given as passphrase, wallet will not be encrypted."
        return {"name": name, "warnings": [warning]}
    await encrypt(manager, name, passphrase)
    return {"name": name}


async def encrypt(manager: WalletManager, name: str, passphrase: str) -> None:
    """Core's CreateWallet with a passphrase: the new wallet encrypts itself, through its
    own ``encryptwallet`` (the call log redacts that method's params), and stays locked."""
    assert manager.face is not None, "the supervisor hands its wallet faces to the manager"
    wallet = await manager.face(name)
    await wallet.execute_rpc("encryptwallet", json.dumps([passphrase]))


@TABLE.method(
    "wallet",
    "Restores and loads a wallet from backup.\n",
    Param("wallet_name", Type.STR, "The name that will be applied to the restored wallet"),
    Param("backup_file", Type.STR, "The backup file that will be used to restore the wallet."),
    LOAD_ON_STARTUP,
    result="{name, warnings}",
    examples=('"testwallet" "home\\backups\\backup-file.bak"',),
)
async def restorewallet(
    manager: WalletManager, wallet_name: str, backup_file: str, load_on_startup: bool | None
) -> dict[str, Any]:
    """Core's RestoreWallet: copy the backup into ``<datadir>/wallets/NAME/`` (never over a
    wallet file) and load it; a wallet that fails to load leaves nothing behind."""
    if not wallet_name:
        raise RpcError(RpcCode.INVALID_PARAMETER, "Wallet name cannot be empty")
    name = checked_name(wallet_name)
    backup = Path(backup_file)
    if not backup.exists():
        raise RpcError(RpcCode.INVALID_PARAMETER, "Backup file does not exist")
    path = manager.path_of(name)
    directory = path.parent
    if directory.exists() and not directory.is_dir():
        raise RpcError(
            RpcCode.WALLET_ALREADY_EXISTS,
            f"Failed to restore wallet. Database file exists '{directory}'.",
        )
    if path.exists():
        raise RpcError(
            RpcCode.WALLET_ALREADY_EXISTS,
            f"Failed to restore wallet. Database file exists in '{path}'.",
        )
    created = not directory.exists()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        copy_private(backup, path)
        await manager.load(name)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        if created:
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise
    manager.remember(name, load_on_startup, loading=True)
    return {"name": name}


def copy_private(source: Path, destination: Path) -> None:
    """Copy ``source`` to a new file ``destination`` only we may read (the wallet refuses
    any other), synced before the wallet opens it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        with source.open("rb") as reader, os.fdopen(os.open(destination, flags, 0o600), "wb") as w:
            shutil.copyfileobj(reader, w)
            w.flush()
            os.fsync(w.fileno())
    except OSError as error:
        raise RpcError(
            RpcCode.WALLET_ERROR,
            f"Unexpected exception: {error.strerror or error}",
        ) from None


@TABLE.method(
    "wallet",
    "Loads a wallet from a wallet file or directory.",
    Param("filename", Type.STR, "The wallet directory or .dat file."),
    LOAD_ON_STARTUP,
    result="{name, warnings}",
    examples=('"test.dat"',),
)
async def loadwallet(
    manager: WalletManager, filename: str, load_on_startup: bool | None
) -> dict[str, Any]:
    name = checked_name(filename)
    if name in manager.loaded():
        raise RpcError(RpcCode.WALLET_ALREADY_LOADED, f'Wallet "{name}" is already loaded.')
    path = manager.path_of(name)
    if not path.exists():
        raise RpcError(
            RpcCode.WALLET_NOT_FOUND,
            f"Wallet file verification failed. Failed to load database path '{path.parent}'."
            " Path does not exist.",
        )
    await manager.load(name)
    manager.remember(name, load_on_startup, loading=True)
    return {"name": name}


@TABLE.method(
    "wallet",
    "Unloads the wallet referenced by the request endpoint or the wallet_name argument.",
    Param(
        "wallet_name",
        Type.STR,
        "The name of the wallet to unload.",
        None,
        "the wallet name from the RPC endpoint",
    ),
    LOAD_ON_STARTUP,
    result="{warnings}",
    examples=('"wallet_name"',),
)
async def unloadwallet(
    manager: WalletManager, wallet_name: str | None, load_on_startup: bool | None
) -> dict[str, Any]:
    if wallet_name is None:
        raise RpcError(
            RpcCode.INVALID_PARAMETER,
            "Either the RPC endpoint wallet or the wallet name parameter must be provided",
        )
    if wallet_name not in manager.loaded():
        raise RpcError(RpcCode.WALLET_NOT_FOUND, "Requested wallet does not exist or is not loaded")
    await manager.unload(wallet_name)
    manager.remember(wallet_name, load_on_startup, loading=False)
    return {}


@TABLE.method(
    "wallet",
    "Returns a list of currently loaded wallets.",
    result='[ "str", ... ]    (json array) the wallet names',
    examples=("",),
)
async def listwallets(manager: WalletManager) -> list[str]:
    return manager.loaded()


@TABLE.method(
    "wallet",
    "Returns a list of wallets in the wallet directory.",
    result="{wallets: [{name}, ...]}",
    examples=("",),
)
async def listwalletdir(manager: WalletManager) -> dict[str, Any]:
    directory = wallets_dir(manager.datadir)
    names = sorted(
        entry.name
        for entry in (directory.iterdir() if directory.is_dir() else [])
        if (entry / WALLET_FILE).is_file() and WALLET_NAME.fullmatch(entry.name)
    )
    return {"wallets": [{"name": name} for name in names]}
