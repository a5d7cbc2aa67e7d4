"""The ICE servers of a deployment (settings), in the shape of the browser's
`RTCPeerConnection({iceServers})`: none by default (loopback and LAN need none; never a public
STUN server unless configured), STUN and TURN URLs with the TURN credentials when set."""

from __future__ import annotations

from typing import Any

from domain.settings import Settings


def ice_servers(settings: Settings) -> list[dict[str, Any]]:
    servers: list[dict[str, Any]] = []
    if settings.media_stun_urls:
        servers.append({"urls": list(settings.media_stun_urls)})
    if settings.media_turn_urls:
        servers.append({"urls": list(settings.media_turn_urls),
                        "username": settings.media_turn_username,
                        "credential": settings.media_turn_credential})
    return servers
