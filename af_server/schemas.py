"""The AF's API schemas: FL jobs, rounds, per-UE records, UE registration and tasks."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from flcore.protocol import Task, UeRegistration, UeToken

__all__ = ["Task", "UeRegistration", "UeToken"]

Outcome = Literal["on_time", "late", "missing", "rejected"]
JobStatus = Literal["pending", "running", "completed", "stopped", "failed"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeadlinePolicy(Strict):
    mode: Literal["fixed", "derived"] = "derived"
    seconds: float | None = Field(default=None, gt=0, le=3600, description="fixed: the round deadline")
    slack: float = Field(
        default=1.5, ge=1.0, le=10.0, description="derived: margin over the slowest prediction"
    )
    min_seconds: float = Field(default=0.5, gt=0, le=3600)
    max_seconds: float = Field(default=120.0, gt=0, le=3600)


class JobSpec(Strict):
    """What an operator asks for when creating an FL job."""

    model: str = Field(default="smallcnn", description="registry name")
    dataset: Literal["fashion-mnist"] = "fashion-mnist"
    rounds: int = Field(default=20, ge=1, le=10_000)
    ues_per_round: int = Field(default=8, ge=1, le=10_000)
    min_reports: int = Field(default=1, ge=1, description="fewer on-time updates abandon the round")
    local_steps: int = Field(default=20, ge=1, le=100_000)
    batch_size: int = Field(default=32, ge=1, le=4096)
    lr: float = Field(default=0.05, gt=0, le=10)
    deadline: DeadlinePolicy = Field(default_factory=DeadlinePolicy)
    selection: Literal["random", "deadline", "utility", "energy", "all"] = "deadline"
    max_energy_j: float | None = Field(
        default=None,
        gt=0,
        le=1e6,
        allow_inf_nan=False,
        description="per-UE cap on the predicted joules of one iteration: UEs above it (or without an "
        "energy profile) are not chosen",
    )
    timeline: Literal["sync", "realtime"] = "sync"
    codec: Literal["none", "int8", "topk"] = "none"
    density: float | None = Field(
        default=None, gt=0, le=1, description="topk: the target share of values sent"
    )
    topk_values: Literal["f32", "int8", "sign"] = Field(
        default="f32",
        description="topk: the kept values as fp32, int8 with a scale per 256, or sign bits with the "
        "mean magnitude per 256 (STC's ternary values)",
    )
    downlink: Literal["full", "int8", "topk"] = Field(
        default="full", description="model download: full, or a delta from the UE's version (int8 or topk)"
    )
    downlink_density: float | None = Field(default=None, gt=0, le=1, description="topk downlink density")
    p_target: float = Field(
        default=0.95, gt=0, lt=1, description="deadline policy: least P(on time) of a selected UE"
    )
    qos_boost: bool = Field(
        default=True, description="ask the NEF for a QoS boost over the chosen UEs' transfer window"
    )
    aggregation: Literal["fedavg", "clipped_fedavg", "trimmed_mean", "median"] = "fedavg"
    max_update_norm: float | None = Field(default=None, gt=0, description="refuse or clip updates above it")
    seed: int = Field(default=0, ge=0, le=2**63 - 1, description="seeds the initial model and every draw")
    eval_every: int = Field(default=1, ge=1)
    eval_samples: int = Field(
        default=2000,
        ge=100,
        le=10_000,
        description="test images (stratified, fixed) evaluated per round; the last round uses all 10,000",
    )

    @field_validator("model")
    @classmethod
    def _known_model(cls, v: str) -> str:
        from flcore.models import REGISTRY

        if v not in REGISTRY:
            raise ValueError(f"unknown model {v!r}; known: {', '.join(sorted(REGISTRY))}")
        return v


class UeChoice(BaseModel):
    gpsi: str
    reason: str
    predicted_dl_s: float | None = None
    predicted_ul_s: float | None = None
    p_on_time: float | None = None
    budget_s: float | None = Field(default=None, description="transfer budget per direction (s)")
    predicted_energy_j: float | None = Field(
        default=None, description="predicted joules of the iteration (training, download, upload)"
    )
    nef: dict[str, object] = Field(default_factory=dict, description="the NEF data the choice used")
    byte_budget: int | None = None


class UeRecord(BaseModel):
    """One selected UE in one round."""

    gpsi: str
    outcome: Outcome
    reason: str
    predicted_dl_s: float | None = None
    predicted_ul_s: float | None = None
    actual_dl_s: float | None = None
    actual_ul_s: float | None = None
    compute_s: float | None = None
    arrival_s: float | None = Field(default=None, description="upload complete, seconds after dispatch")
    arrived_at: float | None = Field(default=None, description="upload complete, Unix time")
    deadline_s: float
    budget_s: float | None = Field(default=None, description="transfer budget per direction (s)")
    p_on_time: float | None = None
    byte_budget: int | None = None
    bytes_ul: int | None = None
    num_samples: int | None = None
    train_loss: float | None = None
    base_version: int | None = Field(default=None, description="model version the update was computed on")
    staleness: int | None = Field(default=None, description="iteration's base version - base_version: 0 or 1")
    selected_round: int | None = Field(default=None, description="the iteration that chose the UE")
    predicted_energy_j: float | None = Field(
        default=None, description="what the AF predicted the iteration would cost the UE (J)"
    )
    energy_j: float | None = Field(default=None, description="what the UE reported (Fl5g-Energy-Joules)")
    detail: str | None = None
    nef: dict[str, object] = Field(default_factory=dict)


class RoundRecord(BaseModel):
    job_id: str
    round: int
    status: Literal["completed", "abandoned"]
    model_version: int
    started_at: float
    duration_s: float
    deadline_s: float
    selected: list[str]
    ues: list[UeRecord]
    accuracy: float | None = None
    loss: float | None = None
    aggregation_s: float = 0.0
    selection_policy: str
    timeline: str = "sync"
    expected_on_time: float | None = Field(default=None, description="sum of P(on time) of the selection")
    over_energy_cap: dict[str, float | None] = Field(
        default_factory=dict,
        description="UEs the job's max_energy_j kept out, with their predicted joules (null: no profile)",
    )
    nef_degraded: bool = False


class JobState(BaseModel):
    id: str
    spec: JobSpec
    status: JobStatus = "pending"
    created_at: float
    updated_at: float
    model_version: int = 0
    rounds_done: int = 0
    accuracy: float | None = None
    checkpoint: str | None = None
    detail: str | None = None
