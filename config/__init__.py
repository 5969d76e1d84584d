"""Settings of splitd and how they are loaded; imports nothing of the project."""

from config.errors import ConfigError
from config.load import effective_config, load_settings
from config.models import (
    WALLET_NAME,
    HealthSettings,
    IpcSettings,
    LogSettings,
    NodeSettings,
    RestartPolicy,
    RestartSettings,
    RpcSettings,
    Settings,
    SupervisorSettings,
    WalletSettings,
)
from config.sources import ENV_PREFIX, NON_SETTING_ENV

__all__ = [
    "ENV_PREFIX",
    "NON_SETTING_ENV",
    "WALLET_NAME",
    "ConfigError",
    "HealthSettings",
    "IpcSettings",
    "LogSettings",
    "NodeSettings",
    "RestartPolicy",
    "RestartSettings",
    "RpcSettings",
    "Settings",
    "SupervisorSettings",
    "WalletSettings",
    "effective_config",
    "load_settings",
]
