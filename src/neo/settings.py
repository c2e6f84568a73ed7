"""One typed settings root for NEO, composed of each stage's own config.

Sources, highest priority first: explicit overrides (CLI flags), environment variables
``NEO_*`` (nested with ``__``, e.g. ``NEO_DATA__VALIDATION__MAX_JUMP=0.2``), the TOML file
(``neo.toml`` in the working directory, or ``--config FILE`` / ``NEO_CONFIG``), then defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from neo.data.config import DataConfig, VenueConfig, default_venues
from neo.domain.errors import ConfigError
from neo.engine.config import EngineConfig, InstrumentSpec
from neo.execution.config import ExecutionConfig
from neo.features.config import FeatureConfig
from neo.logs import LEVELS as LOG_LEVELS
from neo.models.config import ModelConfig
from neo.persistence.config import DatabaseConfig
from neo.portfolio.config import PortfolioConfig
from neo.risk.config import RiskConfig
from neo.risk.sizing import SizingConfig
from neo.service.config import ServiceConfig
from neo.service.redis_config import RedisConfig
from neo.strategies.config import StrategyConfig

DEFAULT_CONFIG_FILE = Path("neo.toml")


class NeoSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NEO_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    data_dir: Path = Path("./neo-data")
    log_level: str = "INFO"
    """One of LOG_LEVELS, any case (--log-level, NEO_LOG_LEVEL or log_level in neo.toml)."""
    log_json: bool = False
    data: DataConfig = DataConfig()
    features: FeatureConfig = FeatureConfig()
    models: ModelConfig = ModelConfig()
    strategies: StrategyConfig = StrategyConfig()
    engine: EngineConfig = EngineConfig()
    execution: ExecutionConfig = ExecutionConfig()
    portfolio: PortfolioConfig = PortfolioConfig()
    risk: RiskConfig = RiskConfig()
    sizing: SizingConfig = SizingConfig()
    service: ServiceConfig = ServiceConfig()
    redis: RedisConfig = RedisConfig()
    instruments: dict[str, InstrumentSpec] = {}
    """Exchange rules per symbol (tick, lot, minimums, maker/taker fees); see InstrumentSpec."""
    venues: dict[str, VenueConfig] = Field(default_factory=default_venues)
    """Trading calendar per venue (``[venues.nasdaq] calendar = "XNAS"``); unlisted: 24/7."""
    database: DatabaseConfig = DatabaseConfig()

    @field_validator("log_level", mode="before")
    @classmethod
    def _known_level(cls, value: Any) -> Any:
        level = str(value).strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(
                f"unknown log level {value!r}: use one of {', '.join(LOG_LEVELS)} "
                "(--log-level, NEO_LOG_LEVEL or log_level in neo.toml)"
            )
        return level

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        named = os.environ.get("NEO_CONFIG")
        if named is not None and not Path(named).is_file():
            raise ConfigError(
                f"NEO_CONFIG names the config file {named}, which does not exist: "
                "point it at a TOML file or unset it"
            )
        toml_file = Path(named) if named is not None else DEFAULT_CONFIG_FILE
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml_file),
        )


def load_settings(config_file: Path | None = None, **overrides: Any) -> NeoSettings:
    """Build the settings; a bad file or value becomes a ConfigError saying which key is wrong."""
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file {config_file} does not exist: give the path of a TOML file")
    previous = os.environ.get("NEO_CONFIG")
    try:
        if config_file is not None:
            os.environ["NEO_CONFIG"] = str(config_file)
        clean = {k: v for k, v in overrides.items() if v is not None}
        return NeoSettings(**clean)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read settings: {exc}") from exc
    finally:
        if config_file is not None:
            if previous is None:
                os.environ.pop("NEO_CONFIG", None)
            else:
                os.environ["NEO_CONFIG"] = previous
