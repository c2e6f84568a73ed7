"""``[service]`` settings of ``neo serve`` (``NEO_SERVICE__PORT`` …)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MIB = 1024 * 1024


class ServiceConfig(BaseModel):
    """Where the REST service listens and what it lets in.

    ``host`` stays loopback unless API keys exist (``neo serve`` refuses otherwise); CORS is
    closed (no origin allowed) unless ``cors_origins`` names some; a request body above
    ``max_body_bytes`` is answered 413 before it is read.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8700, ge=0, le=65535)
    cors_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = Field(16 * MIB, ge=1024)
    job_workers: int = Field(1, ge=1, le=32)
    """Threads running backtest and train jobs."""
    ingest_threads: int = Field(6, ge=1, le=64)
    """Threads storing ``POST /v1/candles`` batches at once; more requests wait their turn.
    A few are enough to overlap one batch's fsyncs with another's CPU work; dozens only
    contend for the GIL and the file system's journal (measured: 40 threads stored ~30 %
    fewer candles per second than 4 to 8 under 100 concurrent clients)."""
    ingest_processes: int = Field(0, ge=0, le=32)
    """Worker processes storing ``POST /v1/candles`` batches, each owning a share of the
    series (0: this process's threads do it). One process is bound by Python's GIL to about
    one core; workers let the ingestion use the others (see neo.service.ingest_pool)."""
    key_cache_seconds: float = Field(1.0, ge=0.0, le=60.0)
    """How long a verified API key is admitted without asking the database again: a revoked
    key is refused at the latest this long after (0: every request asks)."""
