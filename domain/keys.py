"""Every Redis key prefix and channel name the project uses, in one place."""

RATE_LIMIT = "ra:rl:"            # ra:rl:<limiter>:<key> -> GCRA theoretical arrival time
REVOKED_FAMILY = "ra:revoked:fam:"  # ra:revoked:fam:<family> -> 1 (TTL = access token TTL)
# ra:revoked:user:<id> -> epoch ms; tokens issued before are dead
REVOKED_USER = "ra:revoked:user:"
# ra:oidc:<state> -> a pending OpenID sign-in (nonce, PKCE verifier, account to link), 10 min
OIDC_STATE = "ra:oidc:"
WEBAUTHN_CHALLENGE = "ra:webauthn:"  # ra:webauthn:<challenge> -> {kind, user}, 5 min
HUB_CHANNEL = "ra:ch:"           # ra:ch:<room> -> pub/sub channel of a room
HUB_CONTROL = "ra:ctl"           # control channel: revocations, kicks, node lifecycle
HISTORY = "ra:hist:"             # ra:hist:<room> -> stream of recent events
# ra:hmeta:<room> -> hash {epoch, offset, x: tombstones, k:<key>: offsets}
HISTORY_META = "ra:hmeta:"
PRESENCE = "ra:pres:"            # ra:pres:<room> -> hash of members
PRESENCE_NODES = "ra:nodes"      # zset of node ids scored by last heartbeat
# ra:feed:<user> -> zset of activity ids (score = id; "0" marks built)
FEED = "ra:feed:"
# ra:pushdone:<notification> -> set of subscription ids already sent
PUSH_DONE = "ra:pushdone:"
SESSION_REMINDED = "ra:reminded:"  # ra:reminded:<session>:<user> -> 1 once "starting" was sent
FEED_LOCK = "ra:feedlock:"       # ra:feedlock:<user> -> short lock while a home feed is rebuilt
LEADERBOARD = "ra:lb:"           # ra:lb:<key> -> zset
# ra:cat:<catalog version>:<t|p>:<query hash> -> cached search total+facets / page
CATALOG_CACHE = "ra:cat:"
ARQ_QUEUE = "arq:queue"          # arq's default queue name
# the worker's heartbeat: JSON {worker, at, complete, failed, retried}, expiring after 3 beats
WORKER_HEARTBEAT = "ra:worker:hb"
