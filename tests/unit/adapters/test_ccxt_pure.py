"""Pure parts of the ccxt adapter: markets → instruments, error translation, config and keys,
URL override, the outcome policy, pagination and the closed-bar rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import ccxt
import pytest
from ccxt.base.decimal_to_precision import DECIMAL_PLACES, TICK_SIZE
from pydantic import SecretStr

from neo.adapters.ccxt import ExchangeConfig, make_exchange, market_to_instrument, rewrite_urls
from neo.adapters.ccxt.errors import error_kind, retry_after_seconds, translate
from neo.adapters.ccxt.history import bar_closed, iter_ohlcv_pages
from neo.adapters.ccxt.markets import instruments_of
from neo.adapters.ccxt.outcome import CreateVerdict, NotFoundVerdict, OutcomePolicy
from neo.domain import Timeframe
from neo.domain.errors import (
    ConfigError,
    ExchangeAuthError,
    ExchangeBanError,
    ExchangeError,
    ExchangeOrderNotFoundError,
    ExchangeUnavailableError,
    NetworkError,
    OrderRefusedError,
    RateLimitError,
    RequestTimeoutError,
    RetryableError,
)

BINANCE_MARKET: dict[str, Any] = {  # the shape ccxt 4.5 gives Binance's BTC/USDT
    "id": "BTCUSDT",
    "symbol": "BTC/USDT",
    "base": "BTC",
    "quote": "USDT",
    "active": True,
    "precision": {"amount": 1e-05, "price": 0.01},
    "limits": {"amount": {"min": 1e-05, "max": 9000.0}, "cost": {"min": 5.0, "max": None}},
    "maker": 0.001,
    "taker": 0.001,
    "contractSize": None,
}


def test_a_tick_size_market_maps_to_an_instrument() -> None:
    spec = market_to_instrument("binance", BINANCE_MARKET, TICK_SIZE)
    assert (spec.tick_size, spec.lot_size, spec.min_quantity, spec.min_notional) == (
        0.01,
        1e-05,
        1e-05,
        5.0,
    )
    assert (spec.maker_fee, spec.taker_fee, spec.base, spec.quote) == (0.001, 0.001, "BTC", "USDT")
    assert spec.format_quantity(0.0123456) == "0.01234"


def test_decimal_places_precision_becomes_steps() -> None:
    market = {**BINANCE_MARKET, "precision": {"amount": 8, "price": 1}, "maker": -0.0001}
    spec = market_to_instrument("kraken", market, DECIMAL_PLACES)
    assert spec.tick_size == 0.1 and spec.lot_size == 1e-08
    assert spec.maker_fee == -0.0001  # a maker rebate is kept


def test_missing_or_absurd_fields_fall_back_to_safe_defaults() -> None:
    market = {"symbol": "X/Y", "precision": {"price": None}, "limits": {}, "maker": 5.0}
    spec = market_to_instrument("v", market, TICK_SIZE)
    assert spec.tick_size == 0.01 and spec.lot_size == 1e-8 and spec.maker_fee == 0.0


def test_an_unknown_symbol_names_some_that_exist() -> None:
    with pytest.raises(ConfigError, match=r"no market ETH/BTC.*BTC/USDT"):
        instruments_of("binance", {"BTC/USDT": BINANCE_MARKET}, TICK_SIZE, ["ETH/BTC"])
    inactive = {**BINANCE_MARKET, "symbol": "OLD/USDT", "active": False}
    found = instruments_of("binance", {"BTC/USDT": BINANCE_MARKET, "OLD/USDT": inactive}, TICK_SIZE)
    assert [str(i) for i in found] == ["BTC/USDT@binance"]


@pytest.mark.parametrize(
    ("raised", "expected", "retryable"),
    [
        (ccxt.RequestTimeout("t"), RequestTimeoutError, True),
        (ccxt.RateLimitExceeded("429"), RateLimitError, True),
        (ccxt.DDoSProtection("418"), ExchangeBanError, True),
        (ccxt.ExchangeNotAvailable("503"), ExchangeUnavailableError, True),
        (ccxt.OnMaintenance("m"), ExchangeUnavailableError, True),
        (ccxt.NetworkError("reset"), NetworkError, True),
        (ccxt.BadResponse("not json"), NetworkError, True),
        (ccxt.AuthenticationError("bad key"), ExchangeAuthError, False),
        (ccxt.OrderNotFound("-2013"), ExchangeOrderNotFoundError, False),
        (ccxt.InsufficientFunds("-2010"), OrderRefusedError, False),
        (ccxt.InvalidOrder("lot"), OrderRefusedError, False),
        (ccxt.ExchangeError("?"), ExchangeError, False),
    ],
)
def test_ccxt_errors_land_in_the_one_tree(
    raised: Exception, expected: type, retryable: bool
) -> None:
    error = translate(raised, "binance")
    assert type(error) is expected
    assert isinstance(error, RetryableError) is retryable
    assert str(error).startswith("binance: ") and error_kind(raised) != "other"


def test_retry_after_is_read_in_seconds() -> None:
    assert retry_after_seconds({"Retry-After": "3"}) == 3.0
    assert retry_after_seconds({"retry-after": "x"}) is None
    assert retry_after_seconds(None) is None


def test_the_outcome_policy() -> None:
    policy = OutcomePolicy(strikes_to_resend=2, strikes_to_lost=3)
    assert policy.after_create_error(OrderRefusedError("no")) is CreateVerdict.REJECTED
    assert policy.after_create_error(ExchangeAuthError("key")) is CreateVerdict.REJECTED
    for unclear in (
        RequestTimeoutError("t"),
        RateLimitError("429"),
        ExchangeBanError("418"),
        ExchangeUnavailableError("5xx"),
        NetworkError("x"),
        ExchangeError("?"),
        ExchangeOrderNotFoundError("?"),
    ):
        assert policy.after_create_error(unclear) is CreateVerdict.UNKNOWN
    assert policy.after_not_found(1, None, sent=True) is NotFoundVerdict.WAIT
    assert policy.after_not_found(2, None, sent=True) is NotFoundVerdict.TARGETED
    assert policy.after_not_found(2, None, sent=False) is NotFoundVerdict.WAIT
    assert policy.after_not_found(3, None, sent=False) is NotFoundVerdict.TARGETED
    assert policy.after_not_found(3, True, sent=False) is NotFoundVerdict.WAIT
    assert policy.after_not_found(3, False, sent=False) is NotFoundVerdict.ABSENT
    assert policy.may_resend(1) and not policy.may_resend(2)


def test_urls_move_to_the_override_host_keeping_paths() -> None:
    urls = {
        "public": "https://api.binance.com/api/v3",
        "ws": {"spot": "wss://s.b.com:9443/ws"},
        "other": None,
    }
    moved = rewrite_urls(urls, "http://127.0.0.1:8765/")
    assert moved == {
        "public": "http://127.0.0.1:8765/api/v3",
        "ws": {"spot": "ws://127.0.0.1:8765/ws"},
        "other": None,
    }
    with pytest.raises(ConfigError, match="absolute URL"):
        rewrite_urls(urls, "127.0.0.1:8765")


def test_make_exchange_turns_ccxts_limiter_off_and_routes_through_one() -> None:
    exchange = make_exchange("binance", ExchangeConfig(url="http://127.0.0.1:9", rate_limit_ms=20))
    assert exchange.enableRateLimit is False
    assert exchange.neo_limiter.interval_s == pytest.approx(0.02)
    assert exchange.urls["api"]["public"] == "http://127.0.0.1:9/api/v3"
    assert exchange.apiKey in ("", None)  # no credentials asked for: none loaded
    with pytest.raises(ConfigError, match="unknown exchange"):
        make_exchange("nope", ExchangeConfig())


def test_keys_come_from_the_settings_or_a_secrets_file_and_never_show(tmp_path: Path) -> None:
    with pytest.raises(ExchangeAuthError, match="NEO_EXCHANGES__BINANCE__API_KEY"):
        ExchangeConfig().credentials("binance")
    toml = tmp_path / "keys.toml"
    toml.write_text('api_key = "file-key-123"\nsecret = "file-secret-456"\n')
    config = ExchangeConfig(secrets_file=toml)
    keys = config.credentials("binance")
    assert keys["api_key"].get_secret_value() == "file-key-123"
    with_env = ExchangeConfig(secrets_file=toml, api_key=SecretStr("env-key"))
    assert with_env.credentials("binance")["api_key"].get_secret_value() == "env-key"
    js = tmp_path / "keys.json"
    js.write_text(json.dumps({"api_key": "j", "secret": "s"}))
    assert ExchangeConfig(secrets_file=js).credentials("x")["secret"].get_secret_value() == "s"
    exchange = make_exchange("binance", config, credentials=True)
    assert exchange.apiKey == "file-key-123"
    assert "file-key-123" not in repr(with_env) + with_env.model_dump_json()
    bad = tmp_path / "bad.toml"
    bad.write_text("api_key = ")
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        ExchangeConfig(secrets_file=bad).credentials("binance")
    assert "api_key = " not in str(caught.value).split(":", 1)[0]
    with pytest.raises(ConfigError, match="cannot read the secrets file"):
        ExchangeConfig(secrets_file=tmp_path / "missing.toml").credentials("binance")


def test_the_newest_bar_is_closed_by_the_clock_only_on_a_live_venue() -> None:
    minute = 60_000
    assert not bar_closed(0, minute, 59_999)  # still forming
    assert bar_closed(0, minute, 60_000)  # just closed, venue live
    assert not bar_closed(0, minute, 10 * minute)  # a replay/sim: wait for the next bar


class PagedVenue:
    """fetch_ohlcv over a list of rows, with pages that overlap their neighbours by one row
    (as venues do when ``since`` hits a bar's open), and the still-forming bar last."""

    id = "paged"
    timeframes: ClassVar[dict[str, str]] = {"1m": "1m"}

    def __init__(self, n: int, page: int) -> None:
        self.rows = [[i * 60_000, 1.0, 2.0, 0.5, 1.5, 3.0] for i in range(n)]
        self.page = page
        self.calls: list[int] = []

    def fetch_ohlcv(self, symbol: str, tf: str, since: int, limit: int | None) -> list[list[float]]:
        self.calls.append(since)
        start = max(0, since // 60_000 - 1)  # one row before: a boundary repeated
        return self.rows[start : start + self.page]


def test_pagination_takes_each_closed_row_once_and_stops() -> None:
    venue = PagedVenue(250, 40)
    pages = list(iter_ohlcv_pages(venue, "X/Y", Timeframe.parse("1m"), 0, now_ms=lambda: 10**12))
    taken = [int(r[0]) for page in pages for r in page]
    assert taken == [i * 60_000 for i in range(249)]  # the forming (newest) bar is not taken
    assert len(venue.calls) < 15  # it stopped when nothing new came


def test_pagination_respects_until() -> None:
    venue = PagedVenue(250, 40)
    pages = list(
        iter_ohlcv_pages(
            venue, "X/Y", Timeframe.parse("1m"), 60_000 * 10, 60_000 * 100, now_ms=lambda: 10**12
        )
    )
    taken = [int(r[0]) // 60_000 for page in pages for r in page]
    assert taken == list(range(10, 100))


def test_a_trade_whose_fee_is_in_the_base_keeps_it_for_the_ledger() -> None:
    """Binance spot takes a buy's fee in the coins bought: the fill keeps the exchange's
    quantity, the fee at its quote value, and the base part in ``fee_base``."""
    from neo.adapters.ccxt.orders import trade_to_fill
    from neo.domain import Instrument, OrderId

    spec = Instrument.simple("BTC/USDT", venue="binance", lot_size=1e-5)
    trade = {"id": 7, "side": "buy", "amount": 0.5, "price": 40_000.0, "timestamp": 1_000,
             "fee": {"cost": 0.0005, "currency": "BTC"}}  # fmt: skip
    fill = trade_to_fill(trade, OrderId("o"), spec)
    assert (fill.quantity, fill.fee_base, fill.fee) == (0.5, 0.0005, pytest.approx(20.0))
    assert fill.position_delta == pytest.approx(0.4995)
    in_quote = trade_to_fill(
        {**trade, "fee": {"cost": 20.0, "currency": "USDT"}}, OrderId("o"), spec
    )
    assert (in_quote.fee, in_quote.fee_base, in_quote.position_delta) == (20.0, 0.0, 0.5)
    no_fee = trade_to_fill({**trade, "fee": None}, OrderId("o"), spec)
    assert (no_fee.fee, no_fee.fee_base) == (0.0, 0.0)


def test_a_fee_in_a_third_coin_is_priced_in_quote_or_said_to_be_unpriced(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """BNB fees: valued at the coin's price in quote; with no price, booked as they are
    with an error naming the trade (never a lost fill)."""
    from neo.adapters.ccxt.orders import trade_to_fill
    from neo.domain import Instrument, OrderId

    spec = Instrument.simple("BTC/USDT", venue="binance", lot_size=1e-5)
    trade = {"id": 8, "side": "sell", "amount": 0.5, "price": 40_000.0, "timestamp": 1_000,
             "fee": {"cost": 0.05, "currency": "BNB"}}  # fmt: skip
    asked: list[tuple[str, str]] = []

    def bnb_price(currency: str, quote: str) -> float | None:
        asked.append((currency, quote))
        return 300.0

    fill = trade_to_fill(trade, OrderId("o"), spec, bnb_price)
    assert asked == [("BNB", "USDT")]
    assert (fill.fee, fill.fee_base, fill.position_delta) == (pytest.approx(15.0), 0.0, -0.5)
    with caplog.at_level("ERROR"):
        unpriced = trade_to_fill(trade, OrderId("o"), spec, lambda c, q: None)
    assert unpriced.fee == 0.05
    assert "no BNB/USDT price is known" in caplog.text and " 8 " in caplog.text


def test_a_fee_coins_price_comes_from_its_market_or_the_reverse_one_and_is_kept() -> None:
    from neo.adapters.ccxt.broker import CcxtBroker
    from neo.domain import Instrument

    class Tickers:
        id = "scripted"

        def __init__(self) -> None:
            self.markets: dict[str, Any] = {"BNB/EUR": {}, "EUR/USDT": {}}
            self.last_response_headers: dict[str, str] = {}
            self.asked: list[str] = []

        def fetch_ticker(self, symbol: str) -> dict[str, Any]:
            self.asked.append(symbol)
            return {"BNB/EUR": {"last": 280.0}, "EUR/USDT": {"last": None, "bid": 1.0,
                                                             "ask": 1.5}}[symbol]  # fmt: skip

    exchange = Tickers()
    spec = Instrument.simple("BTC/EUR", venue="scripted")
    broker = CcxtBroker(exchange, {spec.id: spec}, lambda event: None)
    assert broker._fee_price("BNB", "EUR") == 280.0
    assert broker._fee_price("USDT", "EUR") == pytest.approx(1 / 1.25)  # EUR/USDT, inverted
    assert broker._fee_price("BNB", "EUR") == 280.0  # kept: not asked again
    assert exchange.asked == ["BNB/EUR", "EUR/USDT"]
    assert broker._fee_price("DOGE", "EUR") is None  # no market either way
