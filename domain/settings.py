"""The one Settings struct, built from the environment and passed to everything that needs it."""

from __future__ import annotations

import os
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
    history_ttl: int = 24 * 3600
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
    search_candidates: int = 500  # keyword search ranks at most this many matches per tier
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
        if self.avatar_store not in ("local", "s3"):
            raise SettingsError("READALONG_AVATAR_STORE must be local or s3")
        if self.avatar_store == "s3" and not (self.s3_endpoint and self.s3_bucket):
            raise SettingsError("READALONG_AVATAR_STORE=s3 needs READALONG_S3_ENDPOINT and "
                                "READALONG_S3_BUCKET")
        for block in self.oidc_blocks:
            if not (block.issuer and block.client_id):
                raise SettingsError(f"READALONG_OIDC_{block.name.upper()}_ISSUER and "
                                    f"READALONG_OIDC_{block.name.upper()}_CLIENT_ID are needed")
        if self.presence_snapshot_max < 1:
            raise SettingsError("READALONG_PRESENCE_SNAPSHOT_MAX must be at least 1")
        if not self.session_idle_end_minutes >= 0:
            raise SettingsError("READALONG_SESSION_IDLE_END_MINUTES must be 0 (never) or more")
        if not 1 <= self.ai_candidates <= 1000:
            raise SettingsError("READALONG_AI_CANDIDATES must be from 1 to 1000")
        if not (self.search_candidates == 0 or 100 <= self.search_candidates <= 100_000):
            raise SettingsError("READALONG_SEARCH_CANDIDATES must be 0 (rank every match) or "
                                "from 100 to 100000")

    def with_engines(self, database_url: str, redis_url: str) -> Settings:
        return msgspec.structs.replace(self, database_url=database_url, redis_url=redis_url)


# (attribute, environment variable, parser)
_ENV: list[tuple[str, str, type]] = [
    ("env", "READALONG_ENV", str),
    ("database_url", "DATABASE_URL", str),
    ("redis_url", "REDIS_URL", str),
    ("secret_key", "READALONG_SECRET_KEY", str),
    ("allowed_origins", "READALONG_ALLOWED_ORIGINS", tuple),
    ("access_token_ttl", "READALONG_ACCESS_TOKEN_TTL", int),
    ("refresh_token_ttl", "READALONG_REFRESH_TOKEN_TTL", int),
    ("data_dir", "READALONG_DATA_DIR", str),
    ("log_format", "READALONG_LOG_FORMAT", str),
    ("log_level", "READALONG_LOG_LEVEL", str),
    ("host", "HOST", str),
    ("port", "PORT", int),
    ("max_body_bytes", "READALONG_MAX_BODY_BYTES", int),
    ("db_pool_size", "READALONG_DB_POOL_SIZE", int),
    ("login_rate", "READALONG_LOGIN_RATE", int),
    ("login_window", "READALONG_LOGIN_WINDOW", int),
    ("register_rate", "READALONG_REGISTER_RATE", int),
    ("register_window", "READALONG_REGISTER_WINDOW", int),
    ("argon2_time_cost", "READALONG_ARGON2_TIME_COST", int),
    ("argon2_memory_kib", "READALONG_ARGON2_MEMORY_KIB", int),
    ("node_id", "READALONG_NODE_ID", str),
    ("ws_auth_timeout", "READALONG_WS_AUTH_TIMEOUT", float),
    ("ws_max_frame_bytes", "READALONG_WS_MAX_FRAME_BYTES", int),
    ("ws_queue_size", "READALONG_WS_QUEUE_SIZE", int),
    ("ws_queue_bytes", "READALONG_WS_QUEUE_BYTES", int),
    ("ws_ping_interval", "READALONG_WS_PING_INTERVAL", float),
    ("ws_ping_timeout", "READALONG_WS_PING_TIMEOUT", float),
    ("history_size", "READALONG_HISTORY_SIZE", int),
    ("history_ttl", "READALONG_HISTORY_TTL", int),
    ("presence_ttl", "READALONG_PRESENCE_TTL", int),
    ("shutdown_grace", "READALONG_SHUTDOWN_GRACE", float),
    ("ws_publish_rate", "READALONG_WS_PUBLISH_RATE", float),
    ("ws_publish_burst", "READALONG_WS_PUBLISH_BURST", float),
    ("ws_presence_rate", "READALONG_WS_PRESENCE_RATE", float),
    ("ws_presence_burst", "READALONG_WS_PRESENCE_BURST", float),
    ("ws_subscribe_rate", "READALONG_WS_SUBSCRIBE_RATE", float),
    ("ws_subscribe_burst", "READALONG_WS_SUBSCRIBE_BURST", float),
    ("presence_snapshot_max", "READALONG_PRESENCE_SNAPSHOT_MAX", int),
    ("ws_name_cache_ttl", "READALONG_WS_NAME_CACHE_TTL", float),
    ("smtp_host", "READALONG_SMTP_HOST", str),
    ("smtp_port", "READALONG_SMTP_PORT", int),
    ("mail_from", "READALONG_MAIL_FROM", str),
    ("public_url", "READALONG_PUBLIC_URL", str),
    ("smtp_security", "READALONG_SMTP_SECURITY", str),
    ("smtp_username", "READALONG_SMTP_USERNAME", str),
    ("smtp_password", "READALONG_SMTP_PASSWORD", str),
    ("vapid_private_key", "READALONG_VAPID_PRIVATE_KEY", str),
    ("vapid_subject", "READALONG_VAPID_SUBJECT", str),
    ("job_max_tries", "READALONG_JOB_MAX_TRIES", int),
    ("job_retry_delay", "READALONG_JOB_RETRY_DELAY", float),
    ("worker_poll_delay", "READALONG_WORKER_POLL_DELAY", float),
    ("feed_size", "READALONG_FEED_SIZE", int),
    ("feed_fanout_max", "READALONG_FEED_FANOUT_MAX", int),
    # --- reading ---
    ("review_write_rate", "READALONG_REVIEW_WRITE_RATE", int),
    ("review_write_window", "READALONG_REVIEW_WRITE_WINDOW", int),
    # --- worker ---
    ("worker_heartbeat", "READALONG_WORKER_HEARTBEAT", float),
    ("worker_reconnect_max", "READALONG_WORKER_RECONNECT_MAX", float),
    ("worker_restart_max", "READALONG_WORKER_RESTART_MAX", float),
    # --- service ---
    ("register_failure_rate", "READALONG_REGISTER_FAILURE_RATE", int),
    ("register_failure_window", "READALONG_REGISTER_FAILURE_WINDOW", int),
    # --- sessions ---
    ("session_idle_end_minutes", "READALONG_SESSION_IDLE_END_MINUTES", float),
    ("ws_overflow", "READALONG_WS_OVERFLOW", str),
    # --- ai ---
    ("ai_embed_url", "READALONG_AI_EMBED_URL", str),
    ("ai_embed_key", "READALONG_AI_EMBED_KEY", str),
    ("ai_embed_model", "READALONG_AI_EMBED_MODEL", str),
    ("ai_embed_timeout", "READALONG_AI_EMBED_TIMEOUT", float),
    ("ai_chat_url", "READALONG_AI_CHAT_URL", str),
    ("ai_chat_key", "READALONG_AI_CHAT_KEY", str),
    ("ai_chat_model", "READALONG_AI_CHAT_MODEL", str),
    ("ai_chat_timeout", "READALONG_AI_CHAT_TIMEOUT", float),
    ("ai_candidates", "READALONG_AI_CANDIDATES", int),
    # --- accounts ---
    ("password_reset_ttl", "READALONG_PASSWORD_RESET_TTL", int),
    ("email_verify_ttl", "READALONG_EMAIL_VERIFY_TTL", int),
    ("forgot_rate", "READALONG_FORGOT_RATE", int),
    ("forgot_window", "READALONG_FORGOT_WINDOW", int),
    ("forgot_address_rate", "READALONG_FORGOT_ADDRESS_RATE", int),
    ("forgot_address_window", "READALONG_FORGOT_ADDRESS_WINDOW", int),
    ("email_verification", "READALONG_EMAIL_VERIFICATION", str),
    ("totp_challenge_ttl", "READALONG_TOTP_CHALLENGE_TTL", int),
    ("totp_attempt_rate", "READALONG_TOTP_ATTEMPT_RATE", int),
    ("totp_attempt_window", "READALONG_TOTP_ATTEMPT_WINDOW", int),
    ("oidc_issuer", "READALONG_OIDC_ISSUER", str),
    ("oidc_client_id", "READALONG_OIDC_CLIENT_ID", str),
    ("oidc_client_secret", "READALONG_OIDC_CLIENT_SECRET", str),
    ("oidc_redirect_uri", "READALONG_OIDC_REDIRECT_URI", str),
    ("oidc_scopes", "READALONG_OIDC_SCOPES", str),
    ("avatar_max_bytes", "READALONG_AVATAR_MAX_BYTES", int),
    ("avatar_max_pixels", "READALONG_AVATAR_MAX_PIXELS", int),
    ("webauthn_rp_id", "READALONG_WEBAUTHN_RP_ID", str),
    ("webauthn_origin", "READALONG_WEBAUTHN_ORIGIN", str),
    # --- interop ---
    ("kosync_registration", "READALONG_KOSYNC_REGISTRATION", int),
    ("import_max_bytes", "READALONG_IMPORT_MAX_BYTES", int),
    ("import_max_rows", "READALONG_IMPORT_MAX_ROWS", int),
    ("export_ttl", "READALONG_EXPORT_TTL", int),
    ("deletion_grace", "READALONG_DELETION_GRACE", int),
    # --- ops ---
    ("metrics_dir", "READALONG_METRICS_DIR", str),
    ("metrics_sample_interval", "READALONG_METRICS_SAMPLE_INTERVAL", float),
    ("worker_metrics_port", "READALONG_WORKER_METRICS_PORT", int),
    # --- readlife ---
    ("kosync_auth_fail_rate", "READALONG_KOSYNC_AUTH_FAIL_RATE", int),
    ("kosync_auth_fail_window", "READALONG_KOSYNC_AUTH_FAIL_WINDOW", int),
    ("kosync_auth_fail_address_rate", "READALONG_KOSYNC_AUTH_FAIL_ADDRESS_RATE", int),
    # --- ai2 ---
    ("search_candidates", "READALONG_SEARCH_CANDIDATES", int),
    # --- accops ---
    ("s3_endpoint", "READALONG_S3_ENDPOINT", str),
    ("s3_bucket", "READALONG_S3_BUCKET", str),
    ("s3_region", "READALONG_S3_REGION", str),
    ("s3_access_key", "READALONG_S3_ACCESS_KEY", str),
    ("s3_secret_key", "READALONG_S3_SECRET_KEY", str),
    ("avatar_store", "READALONG_AVATAR_STORE", str),
    ("oidc_providers", "READALONG_OIDC_PROVIDERS", tuple),
    ("covers_proxy", "READALONG_COVERS_PROXY", int),
    ("cover_max_bytes", "READALONG_COVER_MAX_BYTES", int),
    ("cover_max_pixels", "READALONG_COVER_MAX_PIXELS", int),
    ("cover_fetch_timeout", "READALONG_COVER_FETCH_TIMEOUT", float),
]

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
    values["oidc_blocks"] = _oidc_blocks(environ, values.get("oidc_providers"))
    settings = Settings(**values)  # type: ignore[arg-type]
    if not settings.node_id:
        settings = msgspec.structs.replace(settings, node_id=uuid.uuid4().hex[:12])
    settings.validate()
    return settings
