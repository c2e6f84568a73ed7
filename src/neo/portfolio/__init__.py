"""(stage) portfolio: allocators on skfolio, covariance estimates, constraints, rebalancing.

The heavy solvers (skfolio, cvxpy) load on first use, so importing the settings or the CLI stays
fast; import :mod:`neo.portfolio.allocators` directly for the allocator classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from neo.domain.ids import InstrumentId
from neo.domain.instrument import Instrument
from neo.portfolio.base import PortfolioConstructor
from neo.portfolio.config import PortfolioConfig
from neo.portfolio.constraints import Constraints
from neo.portfolio.rebalance import create_policy

if TYPE_CHECKING:
    from neo.portfolio.allocators import Allocator
    from neo.portfolio.constructor import AllocatorPortfolio

__all__ = [
    "Constraints",
    "PortfolioConfig",
    "PortfolioConstructor",
    "build_portfolio",
    "create_allocator",
    "create_policy",
]


def create_allocator(name: str, **params: float | str | tuple[float, ...]) -> Allocator:
    """See :func:`neo.portfolio.allocators.create_allocator`."""
    from neo.portfolio.allocators import create_allocator as create

    return create(name, **params)


def build_portfolio(
    name: str | None,
    config: PortfolioConfig,
    instruments: Mapping[InstrumentId, Instrument],
) -> AllocatorPortfolio:
    """The PortfolioConstructor for ``--allocator NAME`` (``None``: ``config.allocator``).

    Raises ConfigError for an unknown allocator or policy, or inconsistent constraints.
    """
    from neo.portfolio.allocators import create_allocator as create
    from neo.portfolio.constructor import AllocatorPortfolio

    allocator = create(
        name or config.allocator,
        covariance=config.covariance,
        half_life=config.half_life,
        **config.allocator_params,
    )
    policy = create_policy(
        config.rebalance,
        k=config.rebalance_every,
        threshold=config.signal_threshold,
        band=config.drift_band,
    )
    return AllocatorPortfolio(
        allocator,
        policy,
        config.constraints(),
        instruments,
        lookback=config.lookback,
        min_history=config.min_history,
    )
