"""The one entry point that turns every source into validated ``Settings``."""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from config.errors import ConfigError, validation_lines
from config.merge import Layers
from config.models import Settings
from config.sources import read_env, read_file, read_overrides


def load_settings(
    *,
    datadir: Path,
    config_file: Path | None,
    environ: Mapping[str, str],
    overrides: Sequence[str],
) -> Settings:
    """File < env < ``--set``. Merged by hand rather than with
    pydantic-settings, which ignores unknown env vars and missing files and
    cannot say which source gave a bad value."""
    layers = Layers()
    errors: list[str] = []
    for entries, problems in (
        read_file(datadir, config_file),
        read_env(environ),
        read_overrides(overrides),
    ):
        errors.extend(problems)
        for entry in entries:
            layers.put(entry)
    try:
        settings = Settings.model_validate(layers.tree)
    except ValidationError as exc:
        errors.extend(validation_lines(exc, layers))
    if errors:
        raise ConfigError(errors)
    return settings


def effective_config(settings: Settings) -> dict[str, Any]:
    """JSON mode, so that ``SecretStr`` settings come out as ``**********``."""
    return settings.model_dump(mode="json")
