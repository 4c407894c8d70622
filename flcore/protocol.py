"""The UE-facing protocol between the AF and UE agents: registration, tokens and tasks.

Both sides import these models from here (the services never import each other).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from flcore.energy import EnergyModel

GPSI_RE = re.compile(r"^(msisdn-[0-9]{5,15}|extid-[^@]+@[^@]+)$")

# upload headers
NUM_SAMPLES = "Fl5g-Num-Samples"
DOWNLOAD_SECONDS = "Fl5g-Download-Seconds"
COMPUTE_SECONDS = "Fl5g-Compute-Seconds"
ENERGY_JOULES = "Fl5g-Energy-Joules"
TRAIN_LOSS = "Fl5g-Train-Loss"
BASE_VERSION = "Fl5g-Base-Version"
# model download headers
MODEL_VERSION = "Fl5g-Model-Version"
DELTA_BASE = "Fl5g-Delta-Base"
ENROLLMENT_KEY = "Fl5g-Enrollment-Key"

MAX_POWER_W = 1000.0
"""The most a UE's device may declare for any state: more than a vehicle's computer draws."""
ProfileFigure = Annotated[float, Field(gt=0, le=86_400, allow_inf_nan=False)]
"""A compute benchmark figure (e.g. seconds per step): finite, positive, at most a day."""


class EnergyProfile(BaseModel):
    """The watts a UE's device draws in each state (the energy model of flcore.energy)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    train_power_w: float = Field(ge=0, le=MAX_POWER_W, description="while training")
    ul_power_w: float = Field(ge=0, le=MAX_POWER_W, description="radio, while transmitting")
    dl_power_w: float = Field(ge=0, le=MAX_POWER_W, description="radio, while receiving")
    idle_power_w: float = Field(default=0.0, ge=0, le=MAX_POWER_W, description="otherwise")

    def model(self) -> EnergyModel:
        return EnergyModel(self.train_power_w, self.ul_power_w, self.dl_power_w, self.idle_power_w)


class UeRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gpsi: str = Field(description="GPSI: msisdn-<digits> or extid-<local>@<domain>")
    num_samples: int = Field(ge=1, le=10_000_000)
    compute_profile: dict[str, ProfileFigure] = Field(
        default_factory=dict, max_length=16, description="e.g. seconds_per_step: the UE's own benchmark"
    )
    energy_profile: EnergyProfile | None = Field(
        default=None,
        description="the device's power per state: lets the AF predict the UE's joules per iteration "
        "(without it, a job with max_energy_j does not choose the UE)",
    )

    @field_validator("gpsi")
    @classmethod
    def _gpsi(cls, v: str) -> str:
        if not GPSI_RE.match(v):
            raise ValueError("not a GPSI (msisdn-<5-15 digits> or extid-<local>@<domain>)")
        return v


class UeToken(BaseModel):
    gpsi: str
    token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


class Task(BaseModel):
    """What a selected UE does in one iteration."""

    job_id: str
    round: int
    model: str
    model_version: int
    model_url: str
    upload_url: str
    local_steps: int
    batch_size: int
    lr: float
    seed: int
    codec: str
    density: float | None = None
    topk_values: str = "f32"
    byte_budget: int | None = None
    deadline_s: float = Field(description="seconds from dispatch until the upload must be complete")
    deadline_at: float = Field(description="the deadline as Unix time")
    timeline: str = "sync"
    downlink: str = Field(
        default="full", description="full, or int8/topk: ask for a delta from the held version"
    )
