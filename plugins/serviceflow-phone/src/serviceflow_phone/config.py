"""The package's own configuration file, for what serviceflow's configuration has no table for yet.

serviceflow.toml gives actions their options (``[actions.sms]``) but not input formats, so the
``asterisk-cdr`` reader the installed plugin declares reads its options from the TOML file named by
the environment variable ``SERVICEFLOW_PHONE_CONFIG``::

    [asterisk-cdr]
    cdr-conf = "/etc/asterisk/cdr.conf"     # or: loguniqueid = true, newcdrcolumns = true, ...
    timezone = "Europe/Berlin"
    default-region = "DE"
    customers = "customers.csv"            # relative to this file

Without the variable the reader uses Asterisk's own defaults. A one-file plugin in ``--plugins-dir``
can instead build the reader in Python: ``asterisk_cdr_reader({...})``. The Twilio webhooks are
configured in serviceflow.toml itself, as the route ``[routes.twilio]``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from serviceflow.plugin import ConfigError, Location

__all__ = ["CONFIG_ENV", "TABLES", "load_phone_config"]

CONFIG_ENV = "SERVICEFLOW_PHONE_CONFIG"
TABLES = ("asterisk-cdr",)


def load_phone_config(
    environ: Mapping[str, str] | None = None,
) -> tuple[dict[str, dict[str, Any]], Path | None]:
    """The tables of the file ``SERVICEFLOW_PHONE_CONFIG`` names, and its directory (for relative
    paths); no tables and ``None`` when the variable is unset or empty."""
    environ = os.environ if environ is None else environ
    name = environ.get(CONFIG_ENV, "").strip()
    if not name:
        return {}, None
    path = Path(name)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"{CONFIG_ENV}: cannot read {path}: {exc.strerror or exc}", Location(str(path))
        ) from exc
    except UnicodeDecodeError:
        raise ConfigError(f"{CONFIG_ENV}: {path} is not UTF-8", Location(str(path))) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{CONFIG_ENV}: {path} is not TOML: {exc}", Location(str(path))) from None
    if "twilio" in data:
        raise ConfigError(
            f"{path}: the Twilio webhooks are configured in serviceflow.toml as [routes.twilio], "
            "not here (see the plugin's README)",
            Location(str(path)),
        )
    unknown = sorted(set(data) - set(TABLES))
    if unknown:
        raise ConfigError(
            f"{path}: unknown table {unknown[0]!r} (tables: {', '.join(TABLES)})", Location(str(path))
        )
    for table in TABLES:
        if not isinstance(data.get(table, {}), dict):
            raise ConfigError(f"{path}: '{table}' must be a table", Location(str(path)))
    return {table: dict(data.get(table, {})) for table in TABLES}, path.resolve().parent
