"""NEF mock settings (pydantic-settings, prefix ``NEF_``), read once at start and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_TOKEN_SECRET = "fl5g-nef-dev-token-secret-not-for-production"
DEV_CLIENT_ID = "fl5g-af"
DEV_CLIENT_SECRET = "fl5g-af-dev-secret"
API_NAMES = (
    "3gpp-monitoring-event",
    "3gpp-as-session-with-qos",
    "3gpp-analyticsexposure",
    "3gpp-musa",
)


class ClientConfig(BaseModel):
    """One API invoker allowed to fetch tokens: its secret, the afId it acts as, the APIs it may use."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    secret: SecretStr
    af_id: str = Field(alias="afId")
    apis: list[str] = Field(default_factory=lambda: list(API_NAMES))


def _dev_clients() -> dict[str, ClientConfig]:
    return {DEV_CLIENT_ID: ClientConfig(secret=SecretStr(DEV_CLIENT_SECRET), af_id=DEV_CLIENT_ID)}


class NefSettings(BaseSettings):
    """Everything the NEF mock reads from its environment (``NEF_*``)."""

    model_config = SettingsConfigDict(env_prefix="NEF_", env_ignore_empty=True, extra="forbid")

    scenario: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8081
    public_url: str | None = None
    dev_mode: bool = False
    auth_disabled: bool = False
    token_secret: SecretStr = SecretStr(DEV_TOKEN_SECRET)
    token_ttl_s: int = Field(default=3600, ge=1)
    token_issuer: str = "fl5g-nef-mock"
    aef_id: str = "aef-nef-01"
    clients: dict[str, ClientConfig] = Field(default_factory=_dev_clients)
    notify_retries: int = Field(default=3, ge=0, le=10)
    notify_backoff_s: float = Field(default=0.1, gt=0)
    notify_backoff_max_s: float = Field(default=2.0, gt=0)
    notify_timeout_s: float = Field(default=2.0, gt=0)
    notify_max_inflight: int = Field(default=256, ge=1)
    watch_interval_s: float = Field(default=0.1, gt=0)
    analytics_eval_interval_s: float = Field(default=1.0, gt=0)
    default_window_s: float = Field(default=10.0, gt=0)
    forecast_horizon_s: float = Field(default=30.0, gt=0)
    now_tolerance_s: float = Field(default=1.0, ge=0)
    max_subscriptions: int = Field(default=10_000, ge=1)

    @model_validator(mode="after")
    def _refuse_dev_secrets(self) -> NefSettings:
        if self.dev_mode or self.auth_disabled:
            return self
        secret = self.token_secret.get_secret_value()
        if secret == DEV_TOKEN_SECRET or len(secret) < 32:
            raise ValueError(
                "NEF_TOKEN_SECRET is the built-in development secret or shorter than 32 characters; "
                "set a real one, or NEF_DEV_MODE=true for development"
            )
        weak = [cid for cid, c in self.clients.items() if c.secret.get_secret_value() == DEV_CLIENT_SECRET]
        if weak:
            raise ValueError(
                f"NEF_CLIENTS uses the development secret for {', '.join(sorted(weak))}; "
                "set real secrets, or NEF_DEV_MODE=true for development"
            )
        return self
