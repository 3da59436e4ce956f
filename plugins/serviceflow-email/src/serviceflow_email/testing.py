"""A real Dovecot IMAP server for tests, spoken to over a pipe: no daemon, no port, no system config.

Dovecot's ``imap`` binary serves one pre-authenticated session on its stdin and stdout; Python's
``imaplib.IMAP4_stream`` runs it as a subprocess. Every test gets its own mail store in a new
directory and its own configuration file, so tests can run side by side and leave nothing behind.
Dovecot's errors go to stderr, which pytest shows with a failing test.
Install the server with ``.ci/install-dovecot.sh`` (Debian's ``dovecot-imapd``).

::

    with DovecotMailbox() as dovecot:
        dovecot.append(b"From: ...", internaldate=datetime(...))
        source = ImapSource(options, connect=dovecot.connect)

Used by this plugin's tests, and usable by the live service's end-to-end tests of the source.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import select
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

IMAP_BINARY = Path("/usr/lib/dovecot/imap")
DOVECOT = "dovecot"
INSTALL_HINT = "run .ci/install-dovecot.sh (Debian's dovecot-imapd) to install it"


def dovecot_missing() -> str | None:
    """Why Dovecot cannot be run here, or ``None`` when it can."""
    if not IMAP_BINARY.is_file() or not os.access(IMAP_BINARY, os.X_OK):
        return f"Dovecot's IMAP server ({IMAP_BINARY}) is not installed: {INSTALL_HINT}"
    if shutil.which("doveconf") is None:
        return f"doveconf is not on PATH: {INSTALL_HINT}"
    if shutil.which("timeout") is None:
        return "coreutils' timeout is not on PATH (it bounds each Dovecot session)"
    return None


def daemon_missing() -> str | None:
    """Why a Dovecot daemon (:meth:`DovecotMailbox.serve`) cannot run here, or ``None``."""
    missing = dovecot_missing()
    if missing is not None:
        return missing
    if shutil.which(DOVECOT) is None:
        return f"the dovecot daemon is not on PATH: {INSTALL_HINT}"
    if os.geteuid() != 0:
        return "a Dovecot daemon for tests runs as root (its login processes switch to 'nobody')"
    if shutil.which("openssl") is None:
        return "openssl is needed to make the daemon's TLS certificate"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1 (valid two days): trust it with ``ca-file``."""
    certificate, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(certificate)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return certificate, key


@dataclass(frozen=True)
class DovecotDaemon:
    """A running Dovecot on 127.0.0.1: IMAPS on ``imaps_port``, STARTTLS on ``imap_port``."""

    imaps_port: int
    imap_port: int
    certificate: Path
    password: str


class DovecotMailbox:
    """One user's mail store served by Dovecot; :meth:`connect` opens a session to it."""

    def __init__(self, user: str = "support", *, session_seconds: int = 60) -> None:
        missing = dovecot_missing()
        if missing is not None:
            raise RuntimeError(missing)
        self.user = user
        # imaplib reads its pipe without a timeout: coreutils' timeout ends a session that hangs, and
        # the test sees the pipe close instead of waiting for ever.
        self.session_seconds = session_seconds
        # As root, Dovecot refuses to touch mail as root and drops to 'nobody', who must reach the
        # store: so it lives in a fresh directory of the world-traversable temporary directory.
        self.root = Path(tempfile.mkdtemp(prefix="serviceflow-dovecot-"))
        self.root.chmod(0o755)
        mail = self.root / "mail"
        mail.mkdir()
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            uid, gid = nobody.pw_uid, nobody.pw_gid
            os.chown(mail, uid, gid)
        else:
            uid, gid = os.getuid(), os.getgid()
        self.config = self.root / "dovecot.conf"
        self.config.write_text(
            f"""\
mail_location = maildir:{mail}/%u
protocols = imap
log_path = /dev/stderr
info_log_path = /dev/null
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = 0
first_valid_gid = 0
default_login_user = nobody
default_internal_user = nobody
ssl = no
""",
            encoding="utf-8",
        )
        self.home = mail / user

    def command(self) -> str:
        """The shell command whose stdin and stdout are an IMAP session (a ``tunnel`` option's value)."""
        return " ".join(
            [
                "timeout",
                str(self.session_seconds),
                "env",
                shlex.quote(f"USER={self.user}"),
                shlex.quote(f"HOME={self.home}"),
                "doveconf",
                "-c",
                shlex.quote(str(self.config)),
                "-e",
                shlex.quote(str(IMAP_BINARY)),
            ]
        )

    def connect(self) -> imaplib.IMAP4:
        """A new pre-authenticated session (``IMAP4_stream``); the caller logs out."""
        return imaplib.IMAP4_stream(self.command())

    def append(self, message: bytes, *, mailbox: str = "INBOX", internaldate: datetime | None = None) -> int:
        """Store ``message`` (APPEND) and return its UID."""
        arrived = internaldate or datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
        connection = self.connect()
        try:
            status, data = connection.append(mailbox, None, imaplib.Time2Internaldate(arrived), message)
            if status != "OK":
                raise RuntimeError(f"APPEND failed: {data!r}")
            # [APPENDUID <uidvalidity> <uid>] (RFC 4315)
            return int(data[0].split(b"APPENDUID ")[1].split(b"]")[0].split()[1])
        finally:
            connection.logout()

    def run(self, *command: str) -> list[bytes]:
        """Run one IMAP command (``"CREATE", "Support"``) in a new session; its untagged data."""
        connection = self.connect()
        try:
            status, data = connection._simple_command(*command)
            if status != "OK":
                raise RuntimeError(f"{command[0]} failed: {data!r}")
            return [item for item in data if isinstance(item, bytes)]
        finally:
            connection.logout()

    def uidvalidity(self, mailbox: str = "INBOX") -> int:
        connection = self.connect()
        try:
            status, data = connection.status(mailbox, "(UIDVALIDITY)")
            if status != "OK":
                raise RuntimeError(f"STATUS failed: {data!r}")
            return int(data[0].split(b"UIDVALIDITY ")[1].rstrip(b")"))
        finally:
            connection.logout()

    @contextmanager
    def serve(self, password: str = "s3cret", *, start_seconds: float = 20) -> Iterator[DovecotDaemon]:
        """Run Dovecot as a daemon on 127.0.0.1 over this mail store, with TLS and a password login.

        Any user name logs in with ``password``. The daemon is stopped when the block ends.
        """
        missing = daemon_missing()
        if missing is not None:
            raise RuntimeError(missing)
        certificate, key = self_signed_certificate(self.root)
        daemon = DovecotDaemon(free_port(), free_port(), certificate, password)
        config = self.root / "daemon.conf"
        config.write_text(
            self.config.read_text(encoding="utf-8").replace("info_log_path = /dev/null\n", "")
            + f"""\
base_dir = {self.root}/run
state_dir = {self.root}/state
listen = 127.0.0.1
ssl = yes
ssl_cert = <{certificate}
ssl_key = <{key}
auth_mechanisms = plain login
auth_failure_delay = 0
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={self.home}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {daemon.imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {daemon.imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
""",
            encoding="utf-8",
        )
        process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(config)], stdin=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            _wait_for_startup(process, start_seconds)
            yield daemon
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> DovecotMailbox:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def _wait_for_startup(process: subprocess.Popen[bytes], seconds: float) -> None:
    """Read the daemon's log until it says it started (its listeners are open by then)."""
    assert process.stderr is not None
    deadline = time.monotonic() + seconds
    log = b""
    while b"starting up" not in log:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([process.stderr], [], [], max(left, 0))
        line = process.stderr.readline() if ready else b""
        if not line:
            process.kill()
            raise RuntimeError(f"Dovecot did not start within {seconds}s: {log.decode(errors='replace')}")
        log += line
    # Keep reading its log, so that a full pipe never blocks it.
    threading.Thread(target=process.stderr.read, daemon=True).start()
