"""Airlock's helpers for code running in the sandbox.

sql(query, connector="warehouse") runs governed warehouse SQL and returns a pandas DataFrame.
The query goes through the sandbox's proxy to the gateway (the reserved host sql.airlock),
which decides it with policy, runs it with a database login issued by Vault for this one
query, and revokes the login at once. No credential ever enters the sandbox.
"""

import json
import os
import urllib.error
import urllib.request

__all__ = ["sql", "SqlError"]


class SqlError(Exception):
    """The gateway refused or the database failed; .code is stable, .details has the rest."""

    def __init__(self, code, message, details=None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.details = details or {}


def _post(payload):
    proxy = os.environ.get("HTTP_PROXY", "http://127.0.0.1:3128")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy}))
    req = urllib.request.Request(
        "http://sql.airlock/v1/query",
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with opener.open(req, timeout=900) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as e:
        try:
            return json.load(e)
        except ValueError:
            raise SqlError("sql_unavailable", f"HTTP {e.code}") from None


def sql(query, connector="warehouse"):
    """Runs one SQL statement through `connector`; returns a pandas DataFrame."""
    out = _post({"connector": connector, "sql": query})
    if "error" in out and isinstance(out["error"], dict) and "code" in out["error"] and "status" not in out:
        raise SqlError(out["error"]["code"], out["error"].get("message", ""), out)
    if out.get("status") == "denied":
        v = (out.get("violations") or [{}])[0]
        msg = v.get("message", "denied by policy")
        if v.get("hint"):
            msg += f" (hint: {v['hint']})"
        raise SqlError(v.get("code", "policy_denied"), msg, out)
    if out.get("status") != "succeeded":
        err = out.get("error") or {}
        raise SqlError(err.get("code") or "sql_error", err.get("value", "the query failed"), out)
    import pandas as pd

    res = out["result"]
    return pd.DataFrame(res["rows"], columns=res["columns"])
