"""Origins in development: with READALONG_ALLOWED_ORIGINS unset, a server on any port accepts a
browser on its own address (127.0.0.1, localhost) and logs every refusal with the origin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Engines
from tests.hub_support import Client, new_user
from tests.support import ServerProcess, free_port


@pytest.fixture(scope="module")
def odd_port(engines: Engines, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[ServerProcess]:
    port = free_port()
    proc = ServerProcess(engines.env(PORT=str(port)), port=port,
                         log_dir=Path(tmp_path_factory.mktemp("origins"))).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_browser_on_the_servers_own_address_connects(odd_port: ServerProcess,
                                                            host: str) -> None:
    """`Origin: http://<host>:<port>` of the server's own (non-default) port gets `welcome`."""
    assert odd_port.port != 8000
    client = await Client.login(odd_port.ws_url, new_user(),
                                origin=f"http://{host}:{odd_port.port}")
    assert client.welcome is not None and client.welcome["type"] == "welcome"
    assert (await client.command("ping"))["type"] == "ack"
    await client.close()


@pytest.mark.parametrize(("origin", "reason"), [
    ("http://evil.example:{port}", "not this server's address"),
    ("http://127.0.0.1:{other}", "not this server's port"),
])
async def test_other_origins_are_refused_and_logged(odd_port: ServerProcess, origin: str,
                                                    reason: str) -> None:
    """Another host or another port is closed 1008, and the log names the origin and why."""
    sent = origin.format(port=odd_port.port, other=odd_port.port + 1)
    client = await Client.open(odd_port.ws_url, origin=sent)
    assert await client.closed_with() == 1008
    assert odd_port.log_path is not None
    log = odd_port.log_path.read_text(errors="replace")
    line = next(line for line in log.splitlines() if repr(sent) in line)
    assert "refused" in line and reason in line
