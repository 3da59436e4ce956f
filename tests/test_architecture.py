"""The core (records, policies, engine, evaluators) imports no CLI, HTTP or database code."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = [
    "click",
    "flask",
    "fastapi",
    "starlette",
    "aiohttp",
    "requests",
    "httpx",
    "psycopg",
    "psycopg2",
    "redis",
    "pika",
    "sqlalchemy",
    "nats",
    "paho",
]

CORE_MODULES = [
    "serviceflow",
    "serviceflow.engine",
    "serviceflow.config",
    "serviceflow.policy",
    "serviceflow.records",
    "serviceflow.evaluators.native",
    "serviceflow.findings",
    "serviceflow.importers",
    "serviceflow.calendars",
]


def test_core_imports_no_cli_http_or_database_driver() -> None:
    blocker = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {FORBIDDEN!r}:
            raise ImportError('core must not import ' + name)
sys.meta_path.insert(0, Block())
for module in {CORE_MODULES!r}:
    __import__(module)
from serviceflow import Engine
from serviceflow.config import Config
from datetime import datetime, timezone
Engine.from_config(config=Config()).evaluate([], now=datetime(2024, 1, 1, tzinfo=timezone.utc))
"""
    result = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
