"""The status gate: RT asks serviceflow before a ticket is resolved, and refuses when told no.

RT 5 cannot be told "no" by a scrip: scrips run after the status is written and their results are
ignored. What can refuse is code that runs before the write, and RT's overlay mechanism gives a place
for it: ``RT/Ticket_Local.pm`` in RT's local lib directory is loaded after ``RT::Ticket``. The overlay
shipped here (``perl/RT/Ticket_Local.pm``, read its header for the protocol) wraps ``SetStatus``, asks
``POST <url>/v1/cases/<case>/check`` with a proposed ``status_change`` and returns RT's usual
``(0, message)`` refusal when the answer is ``"allowed": false``.

:func:`install_gate` copies the overlay and writes the site configuration next to RT's own. RT reads
both at start-up, so restart RT (``systemctl restart apache2``, or the rt-server / FastCGI process)
afterwards. It needs write access to RT's directories (root) and does not restart anything itself.
"""

from __future__ import annotations

import grp
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from serviceflow.plugin import ConfigError
from serviceflow_rt.config import DEFAULT_STATUSES

#: Debian's request-tracker5: where overlays and site configuration snippets go.
DEFAULT_LOCAL_LIB = Path("/usr/local/share/request-tracker5/lib")
DEFAULT_SITE_CONFIG_DIR = Path("/etc/request-tracker5/RT_SiteConfig.d")
SITE_CONFIG_NAME = "80-serviceflow-gate.pm"
OVERLAY = Path("RT") / "Ticket_Local.pm"
_OURS = "serviceflow status gate for Request Tracker"


@dataclass(frozen=True)
class GateInstallation:
    """Where :func:`install_gate` put the overlay and its configuration."""

    overlay: Path
    site_config: Path


def overlay_source() -> str:
    """The Perl overlay's text, as shipped in this package."""
    return (
        resources.files("serviceflow_rt")
        .joinpath("perl", "RT", "Ticket_Local.pm")
        .read_text(encoding="utf-8")
    )


def site_config(
    service_url: str,
    token: str,
    *,
    statuses: Iterable[str] = ("resolved",),
    status_map: Mapping[str, str] = DEFAULT_STATUSES,
    case_prefix: str = "rt-",
    fail_open: bool = False,
    timeout: float = 5,
) -> str:
    """The RT site configuration that turns the gate on (Perl, for ``RT_SiteConfig.d``)."""
    if not service_url.startswith(("http://", "https://")):
        raise ConfigError(f"the gate's service URL must be http:// or https://, not {service_url!r}")
    gated = [status.casefold() for status in statuses]
    if not gated:
        raise ConfigError("the gate needs at least one RT status to check (e.g. resolved)")
    unmapped = [status for status in gated if status not in {key.casefold() for key in status_map}]
    if unmapped:
        raise ConfigError(f"gated RT statuses {', '.join(unmapped)} are not in the status map")
    if timeout <= 0:
        raise ConfigError(f"the gate's timeout must be positive, not {timeout!r}")
    pairs = ", ".join(f"{_perl(rt)} => {_perl(ours)}" for rt, ours in status_map.items())
    lines = [
        "# serviceflow status gate (serviceflow-rt install_gate): see RT/Ticket_Local.pm",
        f"Set($ServiceflowGateURL, {_perl(service_url.rstrip('/'))});",
        f"Set($ServiceflowGateToken, {_perl(token)});",
        f"Set(@ServiceflowGateStatuses, {', '.join(_perl(status) for status in gated)});",
        f"Set(%ServiceflowStatusMap, {pairs});",
        f"Set($ServiceflowCasePrefix, {_perl(case_prefix)});",
        f"Set($ServiceflowGateTimeout, {float(timeout):g});",
        f"Set($ServiceflowGateFailOpen, {1 if fail_open else 0});",
        "1;",
        "",
    ]
    return "\n".join(lines)


def install_gate(
    service_url: str,
    token: str,
    *,
    lib_dir: Path = DEFAULT_LOCAL_LIB,
    site_config_dir: Path = DEFAULT_SITE_CONFIG_DIR,
    statuses: Iterable[str] = ("resolved",),
    status_map: Mapping[str, str] = DEFAULT_STATUSES,
    case_prefix: str = "rt-",
    fail_open: bool = False,
    timeout: float = 5,
    force: bool = False,
) -> GateInstallation:
    """Install the overlay into ``lib_dir/RT/Ticket_Local.pm`` and its configuration into
    ``site_config_dir/80-serviceflow-gate.pm``; restart RT afterwards.

    An existing ``Ticket_Local.pm`` that is not this gate is another overlay: it is left alone and
    :class:`~serviceflow.plugin.ConfigError` says so, unless ``force``. The configuration holds the
    token, so it is written 0640, group ``www-data`` when that group exists (the web server's user
    reads RT's configuration).
    """
    text = site_config(
        service_url,
        token,
        statuses=statuses,
        status_map=status_map,
        case_prefix=case_prefix,
        fail_open=fail_open,
        timeout=timeout,
    )
    overlay = lib_dir / OVERLAY
    if overlay.exists() and _OURS not in overlay.read_text(errors="replace") and not force:
        raise ConfigError(
            f"{overlay} exists and is not serviceflow's gate: merge the two overlays by hand, or force"
        )
    if not site_config_dir.is_dir():
        raise ConfigError(f"{site_config_dir} is not a directory: is Request Tracker 5 installed here?")
    overlay.parent.mkdir(parents=True, exist_ok=True)
    _write(overlay, overlay_source(), 0o644)
    config_path = site_config_dir / SITE_CONFIG_NAME
    _write(config_path, text, 0o640)
    _give_to_web_server(config_path)
    return GateInstallation(overlay, config_path)


def uninstall_gate(
    lib_dir: Path = DEFAULT_LOCAL_LIB, site_config_dir: Path = DEFAULT_SITE_CONFIG_DIR
) -> list[Path]:
    """Remove what :func:`install_gate` wrote (only files that are the gate's); restart RT afterwards."""
    removed = []
    overlay = lib_dir / OVERLAY
    if overlay.exists() and _OURS in overlay.read_text(errors="replace"):
        overlay.unlink()
        removed.append(overlay)
    config_path = site_config_dir / SITE_CONFIG_NAME
    if config_path.exists():
        config_path.unlink()
        removed.append(config_path)
    return removed


def _write(path: Path, text: str, mode: int) -> None:
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "w", encoding="utf-8") as output:
        output.write(text)
    os.chmod(temporary, mode)
    os.replace(temporary, path)


def _give_to_web_server(path: Path) -> None:
    if os.geteuid() != 0:
        return
    try:
        group = grp.getgrnam("www-data").gr_gid
    except KeyError:
        return
    shutil.chown(path, group=group)


def _perl(value: str) -> str:
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
