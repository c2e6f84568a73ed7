"""Configuration of models and walk-forward training."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ModelConfig(BaseModel):
    """Defaults for ``neo train``; every field can be overridden by a flag."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default_model: Literal["lightgbm", "logistic", "ridge", "random_forest", "ensemble"] = (
        "lightgbm"
    )
    label: Literal["sign", "forward_return", "triple_barrier"] = "sign"
    horizon: int = Field(1, ge=1, description="Label horizon (triple barrier: timeout) in bars.")
    dead_zone: float = Field(0.0, ge=0, description="Sign label: |return| below this is skipped.")
    take_profit: float = Field(0.01, gt=0)
    stop_loss: float = Field(0.01, gt=0)
    barrier_timeout: Literal["drop", "sign"] = Field(
        "drop", description="Triple barrier timeouts: left out, or labelled by the return's sign."
    )
    train_window: int = Field(1000, ge=1, description="Bars in a rolling training window.")
    expanding: bool = False
    retrain_every: int = Field(250, ge=1)
    purge: int = Field(0, ge=0)
    embargo: int = Field(0, ge=0)
    min_train_samples: int = Field(250, ge=1)
    search_trials: int = Field(0, ge=0, description="Optuna trials per fold (0 = no search).")
    seed: int = 42
    params: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Hyper-parameters per model name, e.g. {lightgbm = {n_estimators = 200}}.",
    )
