"""UE agent settings (prefix ``UE_``), read once at start."""

from __future__ import annotations

from typing import Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from flcore.energy import EnergyModel
from ue_agent.devices import DEVICE_CLASSES, Mix, device_class, parse_mix

POWER_FIELDS = ("train_power_w", "ul_power_w", "dl_power_w", "idle_power_w")


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
    # energy model (see README: "Energy accounting"): one device for every UE of the process, or a
    # mix of device classes (ue_agent.devices), each UE's class fixed by its index and data_seed
    train_power_w: float = 4.0
    ul_power_w: float = 2.5
    dl_power_w: float = 1.2
    idle_power_w: float = 0.05
    device_mix: str = Field(
        default="", description="class:weight,... of ue_agent.devices; empty: the powers above"
    )

    @field_validator("device_mix")
    @classmethod
    def _valid_mix(cls, v: str) -> str:
        parse_mix(v)
        return v

    @model_validator(mode="after")
    def _mix_or_powers(self) -> Self:
        given = sorted(f"UE_{f.upper()}" for f in POWER_FIELDS if f in self.model_fields_set)
        if self.device_mix.strip() and given:
            raise ValueError(
                f"UE_DEVICE_MIX sets each UE's powers: leave {', '.join(given)} unset, or the mix"
            )
        return self

    @property
    def mix(self) -> Mix:
        return parse_mix(self.device_mix)

    def device(self, index: int) -> tuple[str | None, EnergyModel]:
        """UE ``index``'s device class (None without a mix) and its energy model."""
        mix = self.mix
        if not mix:
            return None, EnergyModel(self.train_power_w, self.ul_power_w, self.dl_power_w, self.idle_power_w)
        name = device_class(index, self.data_seed, mix)
        return name, DEVICE_CLASSES[name]
