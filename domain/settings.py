"""The one Settings struct, built from the environment and passed to everything that needs it."""

from __future__ import annotations

import gc
import os
import typing
import uuid
from collections.abc import Mapping
from pathlib import Path

import msgspec

DEFAULT_SECRET_KEY = "dev-only-insecure-secret-key-change-me"


class SettingsError(RuntimeError):
    """Raised when the environment describes a configuration we refuse to run with."""


class OidcProvider(msgspec.Struct, frozen=True, kw_only=True):
    """One identity provider's settings block (READALONG_OIDC_<NAME>_ISSUER, ...)."""

    name: str
    issuer: str
    client_id: str
    client_secret: str = ""
    scopes: str = "openid email profile"
    label: str = ""
    redirect_uri: str = ""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the server, the hub and the worker read from the environment."""

    env: str = "development"
    database_url: str | None = None
    redis_url: str | None = None
    secret_key: str = DEFAULT_SECRET_KEY
    allowed_origins: tuple[str, ...] = ("http://127.0.0.1:8000", "http://localhost:8000")
    access_token_ttl: int = 900
    refresh_token_ttl: int = 30 * 24 * 3600
    data_dir: str = "./var"
    log_format: str = "text"
    log_level: str = "INFO"
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 1024 * 1024
    db_pool_size: int = 10
    # rate limits for the auth endpoints, per client address
    login_rate: int = 10
    login_window: int = 60
    register_rate: int = 30  # accounts created per address: a classroom registering at once
    register_window: int = 3600
    # argon2id cost (defaults: RFC 9106 low-memory profile; tests lower them for speed)
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    # realtime hub
    node_id: str = ""
    ws_auth_timeout: float = 5.0
    ws_max_frame_bytes: int = 64 * 1024
    ws_queue_size: int = 1024
    ws_queue_bytes: int = 1024 * 1024  # outbound bytes buffered per socket before 4013
    ws_ping_interval: float = 20.0
    ws_ping_timeout: float = 20.0
    history_size: int = 1000
    # a reader's own `user:` room (notifications, imports, summaries): one per reader, so its
    # cap is what bounds Redis per reader; a longer absence answers recovered: false (REST)
    user_history_size: int = 200
    history_ttl: int = 24 * 3600
    # the time bound of every room's history (a recovery cache: events are durable in
    # PostgreSQL): replay serves the last this many seconds (at most 5 % more); a client away
    # longer that missed events gets recovered: false and refetches over REST
    room_history_ttl_s: int = 300
    presence_ttl: int = 30
    shutdown_grace: float = 5.0
    # per-connection command buckets (tokens per second, burst) and the subscribe-ack snapshot
    ws_publish_rate: float = 10.0
    ws_publish_burst: float = 20.0
    ws_presence_rate: float = 10.0
    ws_presence_burst: float = 20.0
    ws_subscribe_rate: float = 20.0
    ws_subscribe_burst: float = 40.0
    presence_snapshot_max: int = 200
    ws_name_cache_ttl: float = 15.0  # seconds a node reuses a display name resolved at auth
    ws_max_pending: int = 32  # commands read and not answered on one socket before `overloaded`
    # the cyclic GC's thresholds in the web and worker processes (`gc.set_threshold`), or
    # `python` for the interpreter's own (700,10,10): see `gc_thresholds`
    gc_threshold: str = "50000,20,10"
    # email (used by the worker)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    mail_from: str = "Readalong <no-reply@readalong.local>"
    public_url: str = "http://127.0.0.1:8000"
    # worker, notifications and feeds
    smtp_security: str = "none"  # none | starttls | tls
    smtp_username: str = ""
    smtp_password: str = ""
    vapid_private_key: str = ""  # PEM text or file path; empty: generated under data_dir
    vapid_subject: str = "mailto:admin@readalong.local"
    job_max_tries: int = 5
    job_retry_delay: float = 2.0  # first retry delay in seconds, doubled each try
    worker_poll_delay: float = 0.05
    feed_size: int = 500
    feed_fanout_max: int = 5000  # authors with more followers are merged at read time
    # --- reading ---
    review_write_rate: int = 30      # review writes (reviews, comments, likes, reports) ...
    review_write_window: int = 3600  # ... per reader per this many seconds
    # --- worker ---
    worker_heartbeat: float = 5.0  # seconds between heartbeats (the key lives 3 beats)
    worker_reconnect_max: float = 10.0  # cap of the Redis reconnect backoff (s)
    worker_restart_max: float = 30.0  # cap of the `serve --with-worker` restart backoff (s)
    # --- service ---
    register_failure_rate: int = 100  # failed registrations per address (typos, taken handles)
    register_failure_window: int = 3600
    # --- sessions ---
    session_idle_end_minutes: float = 30.0  # a live session nobody was in this long ends; 0: never
    # --- hub ---
    ws_overflow: str = "close"  # a socket over its outbound bound: close (4013) | drop frames
    # --- ai ---
    ai_embed_url: str = ""           # OpenAI-compatible embeddings base URL ("": wordllama)
    ai_embed_key: str = ""
    ai_embed_model: str = "text-embedding-3-small"
    ai_embed_timeout: float = 10.0
    ai_chat_url: str = ""            # OpenAI-compatible chat base URL for abstractive summaries
    ai_chat_key: str = ""
    ai_chat_model: str = "gpt-4o-mini"
    ai_chat_timeout: float = 15.0
    ai_candidates: int = 200         # semantic/hybrid search: ranked candidates per query
    # --- accounts ---
    password_reset_ttl: int = 3600  # seconds a reset link works
    email_verify_ttl: int = 172800  # seconds a verification / email-change link works
    forgot_rate: int = 5  # reset/verification emails per address (email) ...
    forgot_window: int = 3600  # ... per this many seconds
    forgot_address_rate: int = 30  # reset requests per client address ...
    forgot_address_window: int = 3600  # ... per this many seconds
    email_verification: str = "required"  # required: unverified accounts get no notification
    #                                       or digest email; optional: they do
    totp_challenge_ttl: int = 300  # seconds between the password step and the code step
    totp_attempt_rate: int = 5  # second-factor attempts per account ...
    totp_attempt_window: int = 300  # ... per this many seconds
    oidc_issuer: str = ""  # OpenID provider (its discovery document); empty: sign-in off
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_redirect_uri: str = ""  # where the provider sends the browser back (the web client)
    oidc_scopes: str = "openid email profile"
    avatar_max_bytes: int = 1048576  # upload size limit (at most READALONG_MAX_BODY_BYTES)
    avatar_max_pixels: int = 16_777_216  # width x height limit, checked before decoding
    webauthn_rp_id: str = ""  # passkeys' relying-party id; empty: the host of public_url
    webauthn_origin: str = ""  # the origin passkeys are used from; empty: public_url
    # --- interop ---
    kosync_registration: int = 1     # 1: KOReader's /kosync/users/create makes identities; 0: 2005
    import_max_bytes: int = 10 * 1024 * 1024  # an import file's size limit
    import_max_rows: int = 20_000    # an import file's row limit
    export_ttl: int = 24 * 3600      # seconds a JSON export stays downloadable
    deletion_grace: int = 14 * 24 * 3600  # seconds between a deletion request and the deletion
    # --- ops ---
    metrics_dir: str = ""  # multiprocess metrics store; "" = <data dir>/metrics
    metrics_sample_interval: float = 5.0  # seconds between pool / Redis latency samples
    worker_metrics_port: int = 0  # the worker's own /metrics port on 127.0.0.1 (0 = none)
    # --- readlife ---
    kosync_auth_fail_rate: int = 10     # failed kosync sign-ins per (address, username) ...
    kosync_auth_fail_window: int = 300  # ... per this many seconds (then 429 code 2006)
    kosync_auth_fail_address_rate: int = 100  # failed kosync sign-ins per address per window
    # --- ai2 ---
    search_candidates: int = 300  # keyword search ranks at most this many matches per tier
    # --- accops ---
    s3_endpoint: str = ""  # an S3-compatible store's base URL (path-style); "" = none
    s3_bucket: str = ""  # its bucket for avatars (backups name theirs: s3://bucket/prefix)
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    s3_secret_key: str = ""
    avatar_store: str = "local"  # local: <data dir>/avatars | s3: s3://<bucket>/avatars/
    oidc_providers: tuple[str, ...] = ()  # names of per-provider blocks READALONG_OIDC_<NAME>_*
    oidc_blocks: tuple[OidcProvider, ...] = ()  # filled from those blocks by load_settings
    covers_proxy: int = 0  # 1: clients get book covers from /api/v1/books/{id}/cover only
    cover_max_bytes: int = 2 * 1024 * 1024  # a remote cover larger than this is refused
    cover_max_pixels: int = 25_000_000  # width x height limit of a remote cover
    cover_fetch_timeout: float = 10.0  # seconds to fetch one remote cover
    account_mail_retry: int = 1  # 1: an account email SMTP refused goes to the worker to retry
    #                              (0 by default when READALONG_ENV=test: test servers have no
    #                              SMTP, and their burst workers would wait on the retries)
    # --- audio ---
    stage_max_speakers: int = 4  # default speakers per stage (a host may ask for up to 16)
    stage_max_listeners: int = 50  # peers per stage (listeners + speakers), media-enforced
    media_max_peers: int = 100  # peers per media process (load/ audio benchmark)
    media_host_addresses: tuple[str, ...] = ()  # ICE host candidates; () = every interface
    media_stun_urls: tuple[str, ...] = ()  # e.g. stun:stun.internal:3478 (none by default)
    media_turn_urls: tuple[str, ...] = ()  # e.g. turn:turn.internal:3478?transport=udp
    media_turn_username: str = ""
    media_turn_credential: str = ""
    media_heartbeat: float = 1.0  # seconds between media heartbeats (it lives 5 beats)
    media_timeout: float = 10.0  # seconds a web node waits for the media process's answer
    # --- hotpath ---
    positions_flush_interval: float = 0.1  # seconds between write-behinds of session moves
    positions_reclaim_after: float = 10.0  # seconds before another node re-drains a stuck flush
    # --- cluster ---
    queue_url: str | None = None  # the arq job queue's single Redis/Valkey (REDIS_URL if unset;
    #                              required when REDIS_URL is redis+cluster://)

    @property
    def is_development(self) -> bool:
        return self.env in ("development", "test")

    @property
    def embedded(self) -> bool:
        """True when neither DATABASE_URL nor REDIS_URL is set: we start our own engines."""
        return self.database_url is None and self.redis_url is None

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()

    def gc_thresholds(self) -> tuple[int, int, int] | None:
        """READALONG_GC_THRESHOLD as `gc.set_threshold` arguments (None: `python`, leave the
        interpreter's). The default collects the youngest generation every 50,000 net
        allocations instead of 700: with thousands of sockets each collection promotes the
        frames, futures and buffers that are merely waiting on I/O, and the full collections
        they trigger walk every socket's objects (measured in `load rooms`, 1,000 x 8: from
        about a third of the web processes' CPU to under 3 %)."""
        raw = self.gc_threshold.strip().lower()
        if raw == "python":
            return None
        parts = [p.strip() for p in raw.split(",")]
        try:
            values = [int(p) for p in parts]
        except ValueError:
            values = []
        if len(values) != 3 or values[0] < 1 or min(values) < 0:
            raise SettingsError("READALONG_GC_THRESHOLD must be `python` or three integers "
                                f"gen0,gen1,gen2 with gen0 >= 1 (got {self.gc_threshold!r})")
        return values[0], values[1], values[2]

    def apply_gc_threshold(self) -> None:
        """Set the process's GC thresholds (the web process at start, the worker at start)."""
        values = self.gc_thresholds()
        if values is not None:
            gc.set_threshold(*values)

    def validate(self) -> None:
        """Refuse unsafe or incomplete configurations, with a message a person can act on."""
        if self.env not in ("development", "test", "production"):
            raise SettingsError(
                f"READALONG_ENV must be development, test or production (got {self.env!r})"
            )
        if not self.is_development and self.secret_key == DEFAULT_SECRET_KEY:
            raise SettingsError(
                "Refusing to start: READALONG_SECRET_KEY is the built-in development key. "
                "Set READALONG_SECRET_KEY to a long random value (for example the output of "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`)."
            )
        if not self.is_development and len(self.secret_key) < 32:
            raise SettingsError(
                "Refusing to start: READALONG_SECRET_KEY must be at least 32 characters.")
        if (self.database_url is None) != (self.redis_url is None):
            raise SettingsError(
                "Set both DATABASE_URL and REDIS_URL to use external servers, or neither to use "
                "the embedded PostgreSQL and Redis."
            )
        if self.email_verification not in ("required", "optional"):
            raise SettingsError("READALONG_EMAIL_VERIFICATION must be required or optional "
                                f"(got {self.email_verification!r})")
        if self.smtp_security not in ("none", "starttls", "tls"):
            raise SettingsError("READALONG_SMTP_SECURITY must be none, starttls or tls")
        if self.log_format not in ("json", "text"):
            raise SettingsError("READALONG_LOG_FORMAT must be json or text")
        for klass in ("publish", "presence", "subscribe"):
            if getattr(self, f"ws_{klass}_rate") <= 0 or getattr(self, f"ws_{klass}_burst") < 1:
                raise SettingsError(f"READALONG_WS_{klass.upper()}_RATE must be > 0 and "
                                    f"READALONG_WS_{klass.upper()}_BURST >= 1")
        if self.ws_overflow not in ("close", "drop"):
            raise SettingsError("READALONG_WS_OVERFLOW must be close or drop")
        if self.ws_max_pending < 1:
            raise SettingsError("READALONG_WS_MAX_PENDING must be at least 1")
        self.gc_thresholds()  # refuses a malformed READALONG_GC_THRESHOLD at start
        if self.avatar_store not in ("local", "s3"):
            raise SettingsError("READALONG_AVATAR_STORE must be local or s3")
        if self.avatar_store == "s3" and not (self.s3_endpoint and self.s3_bucket):
            raise SettingsError("READALONG_AVATAR_STORE=s3 needs READALONG_S3_ENDPOINT and "
                                "READALONG_S3_BUCKET")
        for block in self.oidc_blocks:
            if not (block.issuer and block.client_id):
                raise SettingsError(f"READALONG_OIDC_{block.name.upper()}_ISSUER and "
                                    f"READALONG_OIDC_{block.name.upper()}_CLIENT_ID are needed")
        if not 1 <= self.room_history_ttl_s <= self.history_ttl:
            raise SettingsError("READALONG_ROOM_HISTORY_TTL_S must be from 1 to "
                                f"READALONG_HISTORY_TTL ({self.history_ttl}) seconds "
                                f"(got {self.room_history_ttl_s})")
        if self.presence_snapshot_max < 1:
            raise SettingsError("READALONG_PRESENCE_SNAPSHOT_MAX must be at least 1")
        if not self.session_idle_end_minutes >= 0:
            raise SettingsError("READALONG_SESSION_IDLE_END_MINUTES must be 0 (never) or more")
        if (self.redis_url or "").split(":", 1)[0].endswith("+cluster") and not self.queue_url:
            raise SettingsError("REDIS_URL is a cluster (redis+cluster://): set READALONG_QUEUE_URL"
                                " to a single Redis/Valkey instance for the job queue (arq)")
        if self.queue_url and self.queue_url.split(":", 1)[0].endswith("+cluster"):
            raise SettingsError("READALONG_QUEUE_URL must be a single instance, not a cluster")
        if not 1 <= self.ai_candidates <= 1000:
            raise SettingsError("READALONG_AI_CANDIDATES must be from 1 to 1000")
        if not (self.search_candidates == 0 or 100 <= self.search_candidates <= 100_000):
            raise SettingsError("READALONG_SEARCH_CANDIDATES must be 0 (rank every match) or "
                                "from 100 to 100000")

    def with_engines(self, database_url: str, redis_url: str) -> Settings:
        return msgspec.structs.replace(self, database_url=database_url, redis_url=redis_url)


# (attribute, environment variable, parser)
# Each field's variable is READALONG_<FIELD> except these four, named as the platforms name them.
_PLAIN_NAMES = {"database_url": "DATABASE_URL", "redis_url": "REDIS_URL", "host": "HOST",
                "port": "PORT"}
_DERIVED = {"oidc_blocks"}  # filled by load_settings from the per-provider blocks
_KINDS: dict[str, type] = {"str": str, "int": int, "float": float}


def _env_table() -> list[tuple[str, str, type]]:
    """(field, environment variable, kind) for every setting, read off the Settings struct."""
    table: list[tuple[str, str, type]] = []
    for field in msgspec.structs.fields(Settings):
        if field.name in _DERIVED:
            continue
        hint = field.type
        if typing.get_origin(hint) is tuple:
            kind: type = tuple
        else:  # a plain type, or `str | None`
            plain = next(t for t in (*typing.get_args(hint), hint) if t is not type(None))
            kind = _KINDS[plain.__name__]
        name = _PLAIN_NAMES.get(field.name, "READALONG_" + field.name.upper())
        table.append((field.name, name, kind))
    return table


_ENV = _env_table()

# the fields of one READALONG_OIDC_<NAME>_* block (ISSUER and CLIENT_ID are required)
OIDC_BLOCK_FIELDS = ("issuer", "client_id", "client_secret", "scopes", "label", "redirect_uri")


def _oidc_blocks(environ: Mapping[str, str], names: object) -> tuple[OidcProvider, ...]:
    blocks = []
    for name in names if isinstance(names, tuple) else ():
        if not name.replace("_", "").isalnum() or not name.isascii():
            raise SettingsError(f"READALONG_OIDC_PROVIDERS: {name!r} is not a plain name")
        env = {f: environ.get(f"READALONG_OIDC_{name.upper()}_{f.upper()}", "")
               for f in OIDC_BLOCK_FIELDS}
        blocks.append(OidcProvider(name=name.lower(), **{k: v for k, v in env.items()
                                                         if v or k in ("issuer", "client_id")}))
    return tuple(blocks)

ENV_VARS = [name for _, name, _ in _ENV]


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment (or a given mapping), validating each value."""
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for attr, name, kind in _ENV:
        raw = environ.get(name)
        if raw is None or raw == "":
            continue
        try:
            if kind is tuple:
                values[attr] = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
            elif kind is int:
                values[attr] = int(raw)
            elif kind is float:
                values[attr] = float(raw)
            else:
                values[attr] = raw
        except ValueError as exc:
            raise SettingsError(f"{name} must be a {kind.__name__} (got {raw!r})") from exc
    if "log_format" not in values and values.get("env") == "production":
        values["log_format"] = "json"
    if "account_mail_retry" not in values and values.get("env") == "test":
        values["account_mail_retry"] = 0
    values["oidc_blocks"] = _oidc_blocks(environ, values.get("oidc_providers"))
    settings = Settings(**values)  # type: ignore[arg-type]
    if not settings.node_id:
        settings = msgspec.structs.replace(settings, node_id=uuid.uuid4().hex[:12])
    settings.validate()
    return settings
