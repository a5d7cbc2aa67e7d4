"""The `readalong` command: serve on embedded engines, stop cleanly, keep data across runs."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest

from tests.support import ROOT, free_port


def _engine_processes(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if str(data_dir) in " ".join(proc.info["cmdline"] or []):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL") and not k.startswith("READALONG_")}
    env.update({"READALONG_DATA_DIR": str(data_dir), "PORT": str(port),
                "READALONG_LOG_LEVEL": "WARNING"})
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "readalong serve exited early"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    pytest.fail("readalong serve did not become ready within 60 s")


def _ctrl_c(proc: subprocess.Popen[bytes]) -> int:
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
    return proc.wait(30)


async def _write_marker(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS cli_marker (v text)")
        await conn.execute("INSERT INTO cli_marker VALUES ('kept')")
    finally:
        await conn.close()


async def _read_marker(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return [r["v"] for r in await conn.fetch("SELECT v FROM cli_marker")]
    finally:
        await conn.close()


def test_serve_ctrl_c_leaves_no_engines_and_data_survives(tmp_path: Path) -> None:
    """`readalong serve` comes up ready, Ctrl-C leaves no postgres/redis behind, and a second
    run on the same data folder finds the data of the first."""
    data = tmp_path / "var"
    port = free_port()
    proc = _serve(data, port)
    assert _engine_processes(data), "embedded engines should be running under the data folder"
    dsn = f"postgresql://postgres@/readalong?host={data / 'pg'}"
    asyncio.run(_write_marker(dsn))
    assert _ctrl_c(proc) == 0
    deadline = time.monotonic() + 10
    while _engine_processes(data) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _engine_processes(data) == []

    proc = _serve(data, port)
    try:
        assert asyncio.run(_read_marker(dsn)) == ["kept"]
    finally:
        _ctrl_c(proc)
    assert not [p for p in _engine_processes(data) if p.is_running()]


def test_production_refuses_default_secret(tmp_path: Path) -> None:
    """Outside development the server refuses to start with the built-in secret key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("READALONG_")}
    env.update({"READALONG_ENV": "production", "READALONG_DATA_DIR": str(tmp_path)})
    out = subprocess.run([sys.executable, "-m", "server.cli", "migrate"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "READALONG_SECRET_KEY" in out.stderr
