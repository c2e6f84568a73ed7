"""The application layer: the use cases both front ends (``neo`` CLI and the REST API) call.

Each function takes settings and plain arguments and returns a plain, JSON-ready dict (see
:mod:`neo.app.formats`), so the CLI and the API cannot disagree: they only parse and print.

- :mod:`neo.app.ingest`    candles in (files, JSON/NDJSON/CSV rows), stats, quarantine, reads
- :mod:`neo.app.backtest`  a backtest job: bars → run → metrics → report
- :mod:`neo.app.train`     walk-forward training and predictions
- :mod:`neo.app.risk`      the kill switch of an account: status, engage, reset
- :mod:`neo.app.sessions`  in-process paper sessions: start, pause, resume, stop, views
- :mod:`neo.app.jobs`      background backtest/train jobs, polled
- :mod:`neo.app.keys`      API keys: create (shown once), list, revoke, verify
"""
