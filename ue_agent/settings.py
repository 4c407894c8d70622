"""UE agent settings (prefix ``UE_``), read once at start."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def gpsi_for(index: int) -> str:
    """The launcher's UE naming: UE i is msisdn-91000000000i (12 digits)."""
    return f"msisdn-91{index:010d}"


class UeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="UE_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = 8082
    af_url: str = "http://127.0.0.1:8080"
    af_urls: list[str] = Field(
        default_factory=list,
        description="every AF replica (JSON list); the UE moves on when one refuses or answers 503",
    )
    nef_url: str | None = Field(default=None, description="NEF mock; its emulator API paces transfers")
    enrollment_key: str = "dev-enrollment-key"
    count: int = Field(default=1, ge=1, le=5000)
    first_index: int = Field(default=0, ge=0, description="UE i of this process is first_index + i")
    partitions: int = Field(default=0, ge=0, description="how many UEs share the training set (0: count)")
    alpha: float = Field(default=0.5, gt=0, description="Dirichlet non-IID concentration")
    data_seed: int = 0
    train_workers: int = Field(default=0, ge=0, description="threads training at once (0: CPU cores)")
    poll_wait_s: float = 10.0
    pace: bool = True
    rate_refresh_s: float = 0.1
    # energy model (see README: "Energy accounting")
    train_power_w: float = 4.0
    ul_power_w: float = 2.5
    dl_power_w: float = 1.2
    idle_power_w: float = 0.05
