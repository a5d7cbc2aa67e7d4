"""ICE for the media process: no STUN/TURN unless configured (aiortc would otherwise use a
public Google STUN server), and optionally only the given host addresses as candidates (aioice
otherwise offers every interface's address but never 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Sequence

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer

from domain.settings import Settings
from realtime.stage.ice import ice_servers


def restrict_host_addresses(addresses: Sequence[str]) -> None:
    """Gather host candidates on exactly these addresses (e.g. `127.0.0.1` on loopback): in
    this process, for every peer connection made from now on. Empty: aioice's own choice."""
    if not addresses:
        return
    chosen = [a for a in addresses if a]

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in chosen if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = host_addresses


def rtc_configuration(settings: Settings) -> RTCConfiguration:
    """The settings' STUN/TURN servers, and never aiortc's public default."""
    servers = [RTCIceServer(urls=s["urls"], username=s.get("username"),
                            credential=s.get("credential")) for s in ice_servers(settings)]
    return RTCConfiguration(iceServers=servers)
