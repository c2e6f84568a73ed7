"""Settings of the Redis connection (``[redis]`` in neo.toml, ``NEO_REDIS__URL``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RedisConfig(BaseModel):
    """Where the Redis bus and cache live; no URL means neither is used (in-process default).

    Attributes
    ----------
    url:
        ``redis://127.0.0.1:6379/0`` (a password goes in the URL; it is never logged).
    stream_maxlen:
        Entries each candle stream keeps (approximate trimming, ``XADD MAXLEN ~``): a
        consumer that falls further behind than this loses the oldest candles.
    cache_ttl_s:
        Seconds the latest-bar and feature hashes live without an update.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = None
    stream_maxlen: int = Field(default=1_000_000, ge=1_000)
    cache_ttl_s: int = Field(default=3_600, ge=1)
