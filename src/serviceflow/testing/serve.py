"""A real ``serviceflow serve`` for end-to-end tests of connectors: a process on 127.0.0.1.

A connector's promise (a ticket resolved in the help desk shows up as a violation, a signed webhook
becomes a record) can only be shown against the running service, as a user runs it: its own process,
its own store, a bearer token. :class:`RunningServe` is that, for serviceflow's tests and for plugin
authors' alike::

    with running_serve(tmp_path, env) as serve:
        status, case = serve.request("GET", "/v1/cases/rt-1")

It needs the ``serve`` extra; without it :func:`running_serve` skips the test, saying so. Waiting is
by polling a condition with a deadline (:func:`wait_until`), never by sleeping a fixed time.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["RunningServe", "cli", "free_port", "running_serve", "serve_missing", "wait_until"]

SERVICEFLOW = str(Path(sys.executable).parent / "serviceflow")


def serve_missing() -> str | None:
    """Why ``serviceflow serve`` cannot run here, or ``None``."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as error:
        return f"serviceflow serve needs the serve extra: pip install 'serviceflow[serve]' ({error})"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll ``condition`` until it is truthy and return it; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def cli(*arguments: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``serviceflow ARGUMENTS`` as a user runs it; fails the test with its output when it fails."""
    result = subprocess.run(
        [SERVICEFLOW, *arguments], env=env, cwd=cwd, capture_output=True, text=True, timeout=180, check=False
    )
    assert result.returncode == 0, f"serviceflow {' '.join(arguments)}: {result.stdout}{result.stderr}"
    return result


class RunningServe:
    """``serviceflow serve`` on 127.0.0.1 over a SQLite store in ``directory``, and an admin token."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.directory = directory
        self.env = env
        self.db = str(directory / "serviceflow.db")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = directory / "serve.log"
        self.process: subprocess.Popen[bytes] | None = None
        created = cli(
            "tokens", "create", "--name", "tests", "--scope", "admin", "--db", self.db, env=env, cwd=directory
        )
        self.token = created.stdout.strip()

    def start(self) -> None:
        output = self.log.open("ab")
        self.process = subprocess.Popen(
            [SERVICEFLOW, "serve", "--db", self.db, "--port", str(self.port), "--log-level", "info"],
            cwd=self.directory,
            env=self.env,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
        wait_until(self._ready, 60, "serviceflow serve to be ready")

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(
                f"serve exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        """SIGTERM to the service's process group, SIGKILL if it has not ended in 15 s."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(15)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """A call to the API with the token: (status, JSON body)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        """A POST without our token, as a webhook sender makes it: (status, content type, body)."""
        request = urllib.request.Request(self.url + path, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.headers.get("content-type", ""), response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("content-type", ""), error.read()


@contextlib.contextmanager
def running_serve(
    directory: Path, env: dict[str, str], configure: Callable[[RunningServe], None] | None = None
) -> Iterator[RunningServe]:
    """A started service, stopped afterwards. ``configure(serve)`` runs before it starts, once its port
    and token are known (a webhook route's public URL names the port). Skips the test without the
    ``serve`` extra."""
    missing = serve_missing()
    if missing is not None:
        import pytest

        pytest.skip(missing)
    service = RunningServe(directory, env)
    if configure is not None:
        configure(service)
    service.start()
    try:
        yield service
    finally:
        service.stop()
