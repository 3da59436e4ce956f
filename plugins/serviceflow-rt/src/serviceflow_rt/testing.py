"""Throwaway Request Tracker 5 instances for integration tests (Debian's ``request-tracker5``).

Each instance lives in its own directory: its own site configuration (``RT_SITE_CONFIG`` and
``RT_SITE_CONFIG_DIR``, so nothing in ``/etc/request-tracker5`` is read), its own SQLite database, its
own Mason caches, and a fake sendmail that writes each outgoing message to ``mail/`` instead of sending
it. The server is RT's own ``rt-server`` (Starlet) on 127.0.0.1 with two workers, in its own process
group so that stopping it leaves no worker behind.

Building a database (``rt-setup-database-5 --action init``, then root's password and an auth token
through RT's Perl API) takes about 4 s; :class:`RtTemplate` does it once and each instance copies the
file, so that starting one is the server's start-up only (about 2.5 s).

Nothing here needs pytest: ``python -m serviceflow_rt.testing DIR`` starts an instance and prints its
URL and token (for trying things by hand), and the package's tests wrap these in fixtures
(``tests/conftest.py``). Install Request Tracker with ``.ci/install-rt.sh``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Debian's layout; ``SERVICEFLOW_RT_HOME`` points elsewhere (another layout, or none to test the skip).
RT_HOME = Path(os.environ.get("SERVICEFLOW_RT_HOME", "/usr/share/request-tracker5"))
RT_LIB = RT_HOME / "lib"
RT_SERVER = RT_HOME / "libexec" / "rt-server"
RT_SETUP_DATABASE = Path("/usr/sbin/rt-setup-database-5")
RT_MAILGATE = Path("/usr/bin/rt-mailgate-5")
INSTALL_HINT = (
    "install it with .ci/install-rt.sh (as root: Debian's request-tracker5, rt5-db-sqlite, rt5-standalone)"
)
ROOT_PASSWORD = "rt-test-pass"

#: Rights a help desk grants so that customers can write in by mail (RT's initial data grants none).
_SETUP_PERL = r"""
use strict; use warnings;
use RT; RT::LoadConfig(); RT::Init();
my $root = RT::User->new(RT->SystemUser); $root->Load('root') or die "no root user\n";
my ($ok, $msg) = $root->SetPassword($ENV{RT_TEST_ROOT_PASSWORD}); die "password: $msg\n" unless $ok;
my $everyone = RT::Group->new(RT->SystemUser); $everyone->LoadSystemInternalGroup('Everyone');
for my $right (qw(CreateTicket ReplyToTicket)) {
    ($ok, $msg) = $everyone->PrincipalObj->GrantRight(Right => $right, Object => RT->System);
    die "grant $right: $msg\n" unless $ok;
}
my $extra = $ENV{RT_TEST_SETUP_PERL};
if (defined $extra && length $extra) { eval "$extra; 1" or die "setup: $@"; }
my $token = RT::AuthToken->new(RT->SystemUser);
(my $id, $msg, my $secret) = $token->Create(Owner => $root->id, Description => 'serviceflow-rt tests');
die "token: $msg\n" unless $id;
print "$secret\n";
"""


class RtNotInstalled(RuntimeError):
    """Request Tracker 5 is not installed on this machine (the message says how to install it)."""


class RtStartError(RuntimeError):
    """An instance could not be built or did not start; the message ends with its log."""


def rt_installed() -> str | None:
    """``None`` when RT 5 is installed, else why not (naming ``.ci/install-rt.sh``)."""
    missing = [str(path) for path in (RT_SERVER, RT_SETUP_DATABASE, RT_LIB / "RT.pm") if not path.exists()]
    if shutil.which("perl") is None:
        missing.append("perl")
    if missing:
        return f"Request Tracker 5 is not installed (missing {', '.join(missing)}): {INSTALL_HINT}"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _perl_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass
class RtInstance:
    """A running throwaway RT: its URL, a token for root, and where its files and mail are."""

    directory: Path
    port: int
    token: str
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def rest_url(self) -> str:
        """The REST2 base URL, as :class:`rt.rest2.Rt` wants it."""
        return f"{self.url}/REST/2.0/"

    @property
    def mail_dir(self) -> Path:
        return self.directory / "mail"

    @property
    def log_path(self) -> Path:
        return self.directory / "rt-server.log"

    def log(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def mails(self) -> list[bytes]:
        """Every message RT sent, oldest first."""
        return [path.read_bytes() for path in sorted(self.mail_dir.glob("*.eml"))]

    def mailgate(
        self, message: bytes, queue: str = "General", action: str = "correspond", timeout: float = 30
    ) -> None:
        """Deliver an email to RT as its mail gateway does (``rt-mailgate-5``): a customer writing in."""
        completed = subprocess.run(
            [
                str(RT_MAILGATE),
                "--queue",
                queue,
                "--action",
                action,
                "--url",
                self.url + "/",
                "--timeout",
                "25",
            ],
            input=message,
            capture_output=True,
            timeout=timeout,
            env=self.env,
            check=False,
        )
        if completed.returncode != 0:
            raise RtStartError(
                f"rt-mailgate failed ({completed.returncode}): {completed.stderr.decode(errors='replace')}"
            )

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM to the server's process group, SIGKILL after ``timeout`` seconds; idempotent."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)
        # Workers may outlive the master by a moment; the group is ours alone (start_new_session).
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _group_alive(process.pid):
            time.sleep(0.05)
        if _group_alive(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        if process.returncode is None:
            process.wait(timeout)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RtTemplate:
    """A pristine RT database with root's token, built once and copied for each instance."""

    def __init__(
        self, directory: Path, setup_perl: str = "", timeout: float = 120, bcrypt_cost: int | None = None
    ) -> None:
        """``setup_perl`` runs after RT::Init as the system user (queues, custom fields, users).

        ``bcrypt_cost`` sets RT's ``$BcryptCost`` (default 12) for the token made here and every
        instance: RT checks the token with bcrypt on every REST2 request, about 0.27 s at 12 on a
        2-core machine, about 2 ms at 4.
        """
        reason = rt_installed()
        if reason is not None:
            raise RtNotInstalled(reason)
        self.directory = directory
        self.database = directory / "rt.db"
        self.site_config = f"Set($BcryptCost, {int(bcrypt_cost)});" if bcrypt_cost is not None else ""
        directory.mkdir(parents=True, exist_ok=True)
        env = _write_site_config(directory, port=free_port(), extra=self.site_config)
        log = directory / "setup.log"
        with log.open("wb") as output:
            _run([str(RT_SETUP_DATABASE), "--action", "init", "--skip-create"], env, output, timeout, log)
            completed = subprocess.run(
                ["perl", f"-I{RT_LIB}", "-e", _SETUP_PERL],
                env={**env, "RT_TEST_ROOT_PASSWORD": ROOT_PASSWORD, "RT_TEST_SETUP_PERL": setup_perl},
                stdout=subprocess.PIPE,
                stderr=output,
                timeout=timeout,
                check=False,
            )
        token = completed.stdout.decode().strip().splitlines()[-1:] if completed.returncode == 0 else []
        if not token:
            raise RtStartError(
                f"RT setup failed ({completed.returncode}):\n{log.read_text(errors='replace')[-3000:]}"
            )
        self.token = token[0]

    def start(
        self,
        directory: Path,
        *,
        site_config: str = "",
        perl_lib: Sequence[Path] = (),
        env: Mapping[str, str] | None = None,
        prepare: Callable[[Path], object] | None = None,
        timeout: float = 60,
        attempts: int = 3,
    ) -> RtInstance:
        """Start an instance in ``directory`` on a new database copied from this template.

        ``site_config`` is Perl added to the instance's site configuration; ``prepare(site_config_dir)``
        is called before the server starts (to install files there); ``perl_lib`` directories are put on
        ``PERL5LIB`` (where a test puts overlays such as ``RT/Ticket_Local.pm``). Waits at most
        ``timeout`` seconds for an HTTP answer; a port taken meanwhile is retried.
        """
        last_error: RtStartError | None = None
        for _ in range(attempts):
            port = free_port()
            directory.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.database, directory / "rt.db")
            instance_env = _write_site_config(
                directory, port=port, extra=f"{self.site_config}\n{site_config}"
            )
            if perl_lib:
                instance_env["PERL5LIB"] = os.pathsep.join(str(path) for path in perl_lib)
            instance_env.update(env or {})
            if prepare is not None:
                prepare(Path(instance_env["RT_SITE_CONFIG_DIR"]))
            instance = RtInstance(directory, port, self.token, env=instance_env)
            try:
                _start_server(instance, timeout)
            except RtStartError as error:
                instance.stop()
                last_error = error
                if "Address already in use" not in str(error):
                    raise
                continue
            return instance
        assert last_error is not None
        raise last_error


def _write_site_config(directory: Path, port: int, extra: str = "") -> dict[str, str]:
    config_dir = directory / "siteconfig.d"
    for sub in (config_dir, directory / "mason_data", directory / "session_data", directory / "mail"):
        sub.mkdir(parents=True, exist_ok=True)
    (directory / "RT_SiteConfig.pm").write_text("1;\n")
    sendmail = directory / "fake-sendmail"
    sendmail.write_text(
        "#!/bin/sh\n"
        "# serviceflow-rt tests: keep each outgoing message as a file, send nothing\n"
        f'cat > "{directory}/mail/$(date +%s%N)-$$.eml"\n'
    )
    sendmail.chmod(0o755)
    root = str(directory)
    settings = {
        "rtname": "'rt.test.local'",
        "Organization": "'test.local'",
        "CorrespondAddress": "'rt\\@test.local'",
        "CommentAddress": "'rt-comment\\@test.local'",
        "Timezone": "'UTC'",
        "DatabaseType": "'SQLite'",
        "DatabaseName": _perl_string(f"{root}/rt.db"),
        "WebDomain": "'127.0.0.1'",
        "WebPort": str(port),
        "WebPath": "''",
        "WebBaseURL": _perl_string(f"http://127.0.0.1:{port}"),
        "MasonDataDir": _perl_string(f"{root}/mason_data"),
        "MasonSessionDir": _perl_string(f"{root}/session_data"),
        "MailCommand": "'sendmailpipe'",
        "SendmailPath": _perl_string(str(sendmail)),
        "LogToSyslog": "undef",
        "LogToSTDERR": "'warning'",
    }
    lines = [f"Set(${name}, {value});" for name, value in settings.items()]
    (config_dir / "50-test.pm").write_text("\n".join([*lines, "1;", ""]))
    (config_dir / "90-extra.pm").write_text(f"{extra}\n1;\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("RT_", "PERL5"))}
    env.update(
        RT_SITE_CONFIG=str(directory / "RT_SiteConfig.pm"),
        RT_SITE_CONFIG_DIR=str(config_dir),
        LANG="C.UTF-8",
    )
    return env


def _run(command: list[str], env: Mapping[str, str], output: object, timeout: float, log: Path) -> None:
    completed = subprocess.run(
        command, env=dict(env), stdout=output, stderr=subprocess.STDOUT, timeout=timeout, check=False
    )  # type: ignore[call-overload]
    if completed.returncode != 0:
        raise RtStartError(
            f"{command[0]} failed ({completed.returncode}):\n{log.read_text(errors='replace')[-3000:]}"
        )


def _start_server(instance: RtInstance, timeout: float) -> None:
    with instance.log_path.open("ab") as log:
        instance.process = subprocess.Popen(
            [
                str(RT_SERVER),
                "--server",
                "Starlet",
                "--host",
                "127.0.0.1",
                "--port",
                str(instance.port),
                "--max-workers",
                "2",
            ],
            env=instance.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if instance.process.poll() is not None:
            raise RtStartError(f"rt-server exited with {instance.process.returncode}:\n{instance.log()}")
        try:
            with urllib.request.urlopen(instance.url + "/", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RtStartError(f"rt-server did not answer within {timeout:.0f} s:\n{instance.log()}")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m serviceflow_rt.testing DIR``: start an instance in DIR until Ctrl-C."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m serviceflow_rt.testing DIR", file=sys.stderr)
        return 2
    directory = Path(args[0]).resolve()
    try:
        template = RtTemplate(directory / "template")
        instance = template.start(directory / "instance")
    except (RtNotInstalled, RtStartError) as error:
        print(error, file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)  # stop RT on kill too, not only on Ctrl-C
    print(
        f"RT at {instance.url}  REST2 {instance.rest_url}  token {instance.token}  (root / {ROOT_PASSWORD})"
    )
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        instance.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
