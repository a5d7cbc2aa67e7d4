"""Every Redis key prefix and channel name the project uses, in one place."""

RATE_LIMIT = "ra:rl:"            # ra:rl:<limiter>:<key> -> GCRA theoretical arrival time
REVOKED_FAMILY = "ra:revoked:fam:"  # ra:revoked:fam:<family> -> 1 (TTL = access token TTL)
# ra:revoked:user:<id> -> epoch ms; tokens issued before are dead
REVOKED_USER = "ra:revoked:user:"
# ra:oidc:<state> -> a pending OpenID sign-in (nonce, PKCE verifier, account to link), 10 min
OIDC_STATE = "ra:oidc:"
WEBAUTHN_CHALLENGE = "ra:webauthn:"  # ra:webauthn:<challenge> -> {kind, user}, 5 min
HUB_CONTROL = "ra:ctl"           # control channel: revocations (classic pub/sub, every node)
# Every key of one room, and its channel, is `ra:{<room>}:<part>` (the room's hash tag, one
# cluster slot): see `room_key` below and realtime/keys.py. The parts:
CHANNEL_PART = "ch"              # ra:{<room>}:ch -> the room's pub/sub channel (sharded in cluster)
HISTORY_PART = "hist"            # ra:{<room>}:hist -> stream of recent events
HISTORY_META_PART = "hmeta"      # ra:{<room>}:hmeta -> hash {epoch, offset, x: tombstones, k:<key>}
PRESENCE_PART = "pres"           # ra:{<room>}:pres -> hash of members
# ra:{<room>}:access -> a token changed by every withdrawal of access to the room (1 day)
ACCESS_PART = "access"
PRESENCE_NODES = "ra:alive"      # zset of node ids scored by the deadline each last promised
#                                  (heartbeat time + its own TTL; past it, a live node sweeps it)
NODE_ROOMS = "ra:nodes:"         # ra:nodes:<node> -> set of the rooms it has members in
# ra:feed:<user> -> zset of activity ids (score = id; "0" marks built)
FEED = "ra:feed:"
# ra:pushdone:<notification> -> set of subscription ids already sent
PUSH_DONE = "ra:pushdone:"
SESSION_REMINDED = "ra:reminded:"  # ra:reminded:<session>:<user> -> 1 once "starting" was sent
LEADERBOARD = "ra:lb:"           # ra:lb:<key> -> zset
# ra:cat:<catalog version>:<t|p>:<query hash> -> cached search total+facets / page
CATALOG_CACHE = "ra:cat:"
ARQ_QUEUE = "arq:queue"          # arq's default queue name
# the worker's heartbeat: JSON {worker, at, complete, failed, retried}, expiring after 3 beats
WORKER_HEARTBEAT = "ra:worker:hb"

ROOM_PREFIX = "ra:{"


def room_key(room: str, part: str) -> str:
    """The key `part` of `room`, on the room's cluster slot: `ra:{session:42}:hist`."""
    return f"{ROOM_PREFIX}{room}}}:{part}"


def room_channel(room: str) -> str:
    """The room's pub/sub channel, on the room's slot."""
    return f"{ROOM_PREFIX}{room}}}:{CHANNEL_PART}"


def room_pattern(part: str) -> str:
    """A SCAN pattern matching `part` of every room."""
    return f"{ROOM_PREFIX}*}}:{part}"


def room_of(name: bytes | str) -> str | None:
    """The room of a key or channel made by `room_key`/`room_channel`, or None."""
    text = name.decode() if isinstance(name, bytes) else name
    if not text.startswith(ROOM_PREFIX):
        return None
    end = text.find("}", len(ROOM_PREFIX))
    return text[len(ROOM_PREFIX):end] if end > 0 else None
