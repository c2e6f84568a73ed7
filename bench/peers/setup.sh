#!/usr/bin/env bash
# Create bench/peers/.venv with the peer engines (backtesting.py, backtrader, vectorbt,
# NautilusTrader). Idempotent: a stamp file records the requirements it was built from, so a
# second run is a no-op unless requirements.txt changed. Never touches NEO's own .venv.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
req="$here/requirements.txt"
stamp="$venv/.neo-peers-stamp"
python_bin="${PEERS_PYTHON:-python3.11}"

want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$venv/bin/python" ]]; then
    echo "peers venv up to date: $venv" >&2
    exit 0
fi
case "$venv" in
    */bench/peers/.venv) ;;
    *) echo "refusing to build a venv outside bench/peers: $venv" >&2; exit 2 ;;
esac
echo "building peers venv in $venv (a few minutes)..." >&2
rm -f "$stamp"
"$python_bin" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip >&2
"$venv/bin/python" -m pip install --quiet -r "$req" >&2
"$venv/bin/python" -c "import backtesting, backtrader, vectorbt, nautilus_trader, psutil, pyarrow" >&2
echo "$want" > "$stamp"
echo "peers venv ready: $venv" >&2
