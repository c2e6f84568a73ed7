"""Connectivity to the outside world: exchanges (``neo.adapters.ccxt``)."""
