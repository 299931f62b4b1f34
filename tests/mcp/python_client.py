"""Airlock's MCP server through the official Python MCP SDK (PyPI `mcp`), over Streamable HTTP.

Run by tests/e2e/mcp.rs against the real binary with real OIDC tokens:
  MCP_URL      the gateway's /mcp
  ISSUER       the issuer the gateway trusts
  TOKEN        a token of alice-tool; OTHER_TOKEN one of bob-tool
Each check raises on a failure; the last line printed is a JSON summary for the Rust test.
"""

import base64
import json
import os
import sys
import time

import anyio
import httpx2
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

URL = os.environ["MCP_URL"]
TOKEN = os.environ["TOKEN"]
OTHER = os.environ["OTHER_TOKEN"]
ISSUER = os.environ["ISSUER"]
INIT = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "raw", "version": "0"}},
}
HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def check(cond, what):
    if not cond:
        raise AssertionError(what)


async def discovery():
    """401 names the metadata; the metadata names the issuer; a forged token is invalid_token."""
    async with httpx2.AsyncClient() as c:
        r = await c.post(URL, json=INIT, headers=HEADERS)
        check(r.status_code == 401, f"no token: {r.status_code}")
        challenge = r.headers["www-authenticate"]
        check(challenge.startswith("Bearer ") and "resource_metadata=" in challenge, challenge)
        meta_url = challenge.split('resource_metadata="')[1].split('"')[0]
        meta = (await c.get(meta_url)).json()
        check(meta["resource"] == URL, meta)
        check(ISSUER in meta["authorization_servers"], meta)
        forged = TOKEN[:-6] + ("AAAAAA" if not TOKEN.endswith("AAAAAA") else "BBBBBB")
        r = await c.post(URL, json=INIT, headers={**HEADERS, "authorization": f"Bearer {forged}"})
        check(r.status_code == 401, f"forged: {r.status_code}")
        check('error="invalid_token"' in r.headers["www-authenticate"], r.headers["www-authenticate"])
        return meta["authorization_servers"]


def text_of(result):
    return "".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def session_checks(session, seen_ids):
    out = {}
    tools = {t.name: t for t in (await session.list_tools()).tools}
    names = sorted(tools)
    check({"execute_code", "query_warehouse", "upload_file", "list_files", "read_file",
           "review_status", "new_session", "end_session"} <= set(names), names)
    check(all(t.input_schema.get("type") == "object" and t.output_schema for t in tools.values()), "schemas")
    out["tools"] = names

    # A figure arrives as image content: a real PNG.
    r = await session.call_tool("execute_code", {"code": (
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
        "plt.plot([1, 2, 3], [1, 4, 9])\nplt.show()\nprint('plotted')")})
    check(not r.is_error, text_of(r))
    images = [c for c in r.content if isinstance(c, types.ImageContent)]
    check(images and images[0].mime_type == "image/png", r.content)
    png = base64.b64decode(images[0].data)
    check(png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000, png[:16])
    check(r.structured_content["status"] == "succeeded", r.structured_content)
    out["session_id"] = r.structured_content["session_id"]
    out["png_bytes"] = len(png)

    # A table: its text, and its HTML as an embedded resource.
    r = await session.call_tool("execute_code", {"code": (
        "import pandas as pd\npd.DataFrame({'region': ['north', 'south'], 'revenue': [10, 20]})")})
    check("north" in text_of(r), text_of(r))
    tables = [c for c in r.content if isinstance(c, types.EmbeddedResource)
              and c.resource.mime_type == "text/html"]
    check(tables and "<table" in tables[0].resource.text, r.content)

    # A denied import: an error result with the violation and a hint the model can act on.
    r = await session.call_tool("execute_code", {"code": "import requests\nrequests.get('https://example.com')"})
    check(r.is_error, "the denial is an error result")
    v = r.structured_content["violations"]
    check(v and v[0]["code"] == "package_not_allowed" and v[0].get("hint"), v)
    check("hint" in text_of(r), text_of(r))
    out["denied"] = v[0]["code"]

    # A long cell streams: the first line arrives as progress before the call returns.
    progress = []

    async def on_progress(p, total, message):
        progress.append((time.monotonic(), message))

    code = "import time\nfor i in range(3):\n    print('line', i, flush=True)\n    time.sleep(0.6)\n"
    r = await session.call_tool("execute_code", {"code": code}, progress_callback=on_progress)
    done = time.monotonic()
    check(not r.is_error, text_of(r))
    lines = "".join(m or "" for _, m in progress)
    check("line 0" in lines and "line 2" in lines, progress)
    first = next(t for t, m in progress if m and "line 0" in m)
    check(done - first > 0.8, f"the first line came {done - first:.2f}s before the end")
    out["progress_messages"] = len(progress)

    # Cancellation mid-run: the SDK sends notifications/cancelled; the execution ends cancelled.
    started = anyio.Event()

    async def on_start(p, total, message):
        started.set()

    async def long_cell():
        await session.call_tool("execute_code", {"code": "import time\nprint('started', flush=True)\ntime.sleep(60)\nprint('never')"},
                                progress_callback=on_start)

    async with anyio.create_task_group() as tg:
        tg.start_soon(long_cell)
        with anyio.fail_after(30):
            await started.wait()
        tg.cancel_scope.cancel()
    r = await session.call_tool("execute_code", {"code": "print(6 * 7)"})
    check((r.structured_content or {}).get("stdout") == "42\n", f"after the cancel: {text_of(r)}")

    # Files: upload, list, read back, and the code sees it.
    r = await session.call_tool("upload_file", {"path": "notes/a.txt", "content": "hello from mcp\n"})
    check(not r.is_error and r.structured_content["size"] == 15, text_of(r))
    r = await session.call_tool("list_files", {})
    check(any(f["path"] == "notes/a.txt" for f in r.structured_content["files"]), r.structured_content)
    r = await session.call_tool("read_file", {"path": "notes/a.txt"})
    res = [c for c in r.content if isinstance(c, types.EmbeddedResource)]
    check(res and res[0].resource.text == "hello from mcp\n", r.content)
    r = await session.call_tool("execute_code", {"code": "print(open('notes/a.txt').read().upper(), end='')"})
    check(r.structured_content["stdout"] == "HELLO FROM MCP\n", r.structured_content)
    r = await session.call_tool("read_file", {"path": "../etc/passwd"})
    check(r.is_error and "invalid_path" in text_of(r), text_of(r))

    # Protocol errors: unknown tool, wrong argument types.
    for name, args in (("no_such_tool", {}), ("execute_code", {"code": 5}), ("execute_code", {"code": "1", "extra": 1})):
        try:
            await session.call_tool(name, args)
            raise AssertionError(f"{name} {args} was accepted")
        except Exception as e:  # the SDK raises its McpError with the JSON-RPC error
            err = getattr(e, "error", None)
            check(err is not None and err.code == -32602, repr(e))
    out["review"] = (await session.call_tool("review_status", {})).structured_content
    return out


async def main():
    servers = await discovery()
    seen = []

    def remember(response):
        sid = response.headers.get("mcp-session-id")
        if sid:
            seen.append(sid)

    client = create_mcp_http_client(headers={"authorization": f"Bearer {TOKEN}"})
    client.event_hooks["response"] = [lambda r: remember(r) or anyio.sleep(0)]
    async with client:
        async with streamable_http_client(URL, http_client=client) as (read, write):
            async with ClientSession(read, write, client_info=types.Implementation(name="airlock-e2e", version="1.0")) as session:
                await session.initialize()
                out = await session_checks(session, seen)
                # Another principal presenting this MCP session's id is told it does not exist.
                check(seen, "no session id seen")
                async with httpx2.AsyncClient() as other:
                    body = {"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                            "params": {"name": "list_files", "arguments": {}}}
                    r = await other.post(URL, json=body, headers={
                        **HEADERS, "authorization": f"Bearer {OTHER}", "mcp-session-id": seen[0],
                        "mcp-protocol-version": "2025-06-18"})
                    check(r.status_code == 404, f"another principal: {r.status_code} {r.text}")
                    # Bad JSON-RPC from the owner: an HTTP client error (the transport's answer to
                    # input it cannot accept), and the session goes on.
                    for bad in (b"{not json", b'{"jsonrpc": "1.0", "method": 5}', b"[]"):
                        r = await other.post(URL, content=bad, headers={
                            **HEADERS, "authorization": f"Bearer {TOKEN}", "mcp-session-id": seen[0],
                            "mcp-protocol-version": "2025-06-18"})
                        check(400 <= r.status_code < 500, f"bad json {bad!r}: {r.status_code} {r.text}")
                r = await session.call_tool("execute_code", {"code": "print('still here')"})
                check(r.structured_content["stdout"] == "still here\n", text_of(r))
    out["authorization_servers"] = servers
    out["mcp_session"] = seen[0]
    print(json.dumps(out))


if __name__ == "__main__":
    try:
        anyio.run(main)
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
