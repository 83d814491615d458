"""Drives the Todo MCP server with the official MCP Python SDK over Streamable HTTP.

    mcp_client.py URL     (bearer tokens in $MCP_TOKEN and $MCP_OTHER_TOKEN, so that they show
                           in no process list: two users, the second never reaching the first's task)

Without a token: refused with a 401 JSON body, and the SDK's handshake fails. With the first token:
initializes, lists the tools, calls each one, and has invalid input and an unknown tool shown as
tool errors naming the field. With the second: the first user's task is not found by any tool.
Prints what it saw as one JSON object and exits 1 at the first thing that is not as it should be.
Run by adapters/mcp/tests/python_sdk.rs through infra/local/mcp-python.
"""

import asyncio
import json
import os
import sys

import httpx2
from mcp import ClientSession, MCPError
from mcp.client.streamable_http import streamable_http_client

EXPECTED_TOOLS = [
    "add_task",
    "list_tasks",
    "search_tasks",
    "get_task",
    "update_task",
    "complete_task",
    "delete_task",
]

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    },
}


def check(condition, what):
    if not condition:
        print(f"mcp_client.py: {what}", file=sys.stderr)
        sys.exit(1)


def leaves(error):
    """The exceptions inside `error`, exception groups opened."""
    inner = getattr(error, "exceptions", None)
    return [leaf for e in inner for leaf in leaves(e)] if inner else [error]


def session_over(http, url):
    """The SDK's transport over `http` (whose headers carry the token, if any)."""
    return streamable_http_client(url, http_client=http)


async def ok(session, tool, arguments):
    """The JSON result of a call that succeeded; its text content says the same."""
    result = await session.call_tool(tool, arguments)
    check(not result.is_error, f"{tool} {arguments} failed: {result.content}")
    check(json.loads(result.content[0].text) == result.structured_content, f"{tool}: the text is not the JSON")
    return result.structured_content


async def refused(session, tool, arguments):
    """The text and the error body of a call the tool refused, a result rather than a protocol error."""
    result = await session.call_tool(tool, arguments)
    check(result.is_error, f"{tool} {arguments} was accepted: {result.structured_content}")
    return result.content[0].text, result.structured_content["error"]


async def without_a_token(url, seen):
    async with httpx2.AsyncClient(timeout=30) as http:
        raw = await http.post(
            url, json=INITIALIZE, headers={"Accept": "application/json, text/event-stream"}
        )
        check(raw.status_code == 401, f"no token: HTTP {raw.status_code}")
        check(raw.headers.get("www-authenticate", "").startswith("Bearer"), "no token: no WWW-Authenticate")
        seen["no_token"] = {"status": raw.status_code, "error": raw.json()["error"]["code"]}
        try:
            async with session_over(http, url) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
        except Exception as e:  # the SDK's task groups wrap the MCPError
            refusals = [str(x) for x in leaves(e) if isinstance(x, MCPError)]
            check(refusals, f"no token: the handshake failed otherwise: {e!r}")
            seen["no_token"]["handshake"] = "refused"
            seen["no_token"]["sdk_error"] = refusals[0]
        else:
            check(False, "no token: the handshake succeeded")


async def as_ada(url, token, seen):
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        async with session_over(http, url) as (read, write):
            async with ClientSession(read, write) as session:
                initialized = await session.initialize()
                seen["server"] = initialized.server_info.name
                seen["protocol_version"] = initialized.protocol_version
                check(initialized.capabilities.tools is not None, "the server offers no tools")

                listed = await session.list_tools()
                seen["tools"] = [tool.name for tool in listed.tools]
                check(seen["tools"] == EXPECTED_TOOLS, f"tools: {seen['tools']}")
                for tool in listed.tools:
                    schema = tool.input_schema
                    check(schema.get("type") == "object", f"{tool.name}: not an object schema")
                    check(schema.get("additionalProperties") is False, f"{tool.name}: open schema")
                    check(tool.description, f"{tool.name}: no description")
                    for name, prop in schema.get("properties", {}).items():
                        check(prop.get("description"), f"{tool.name}.{name}: no description")

                calls = {}
                plants = await ok(
                    session,
                    "add_task",
                    {
                        "title": "Water the plants",
                        "priority_id": 2,
                        "tags": ["python"],
                        "due_date": "2028-01-31T09:00:00Z",
                        "recurrence": {"frequency": "weekly", "interval": 2},
                    },
                )
                calls["add_task"] = plants
                milk = await ok(session, "add_task", {"title": "Buy milk"})
                calls["list_tasks"] = await ok(session, "list_tasks", {"tag": "python"})
                check(calls["list_tasks"]["items"] == [plants], f"list_tasks: {calls['list_tasks']}")
                calls["search_tasks"] = await ok(session, "search_tasks", {"q": "MILK"})
                check(calls["search_tasks"]["items"] == [milk], f"search_tasks: {calls['search_tasks']}")
                calls["get_task"] = await ok(session, "get_task", {"task_id": plants["id"]})
                check(calls["get_task"] == plants, f"get_task: {calls['get_task']}")
                calls["update_task"] = await ok(
                    session, "update_task", {"task_id": milk["id"], "title": "Buy oat milk", "priority_id": None}
                )
                calls["complete_task"] = await ok(session, "complete_task", {"task_id": plants["id"]})
                calls["delete_task"] = await ok(session, "delete_task", {"task_id": milk["id"]})
                seen["calls"] = calls
                seen["after"] = await ok(session, "list_tasks", {"sort": "due_date"})

                invalid = {}
                invalid["blank_title"] = await refused(session, "add_task", {"title": "   "})
                invalid["bad_frequency"] = await refused(
                    session, "add_task", {"title": "x", "recurrence": {"frequency": "yearly"}}
                )
                invalid["limit"] = await refused(session, "list_tasks", {"limit": 0})
                invalid["user_id"] = await refused(session, "add_task", {"title": "x", "user_id": "bob"})
                invalid["unknown_tool"] = await refused(session, "drop_tables", {})
                seen["invalid"] = invalid
                return plants


async def as_bob(url, token, task, seen):
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        async with session_over(http, url) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                others = {}
                for tool, arguments in [
                    ("get_task", {"task_id": task["id"]}),
                    ("update_task", {"task_id": task["id"], "title": "Bob's now"}),
                    ("complete_task", {"task_id": task["id"]}),
                    ("delete_task", {"task_id": task["id"]}),
                ]:
                    others[tool] = await refused(session, tool, arguments)
                others["list_tasks"] = (await ok(session, "list_tasks", {}))["total"]
                others["search_tasks"] = (await ok(session, "search_tasks", {"q": "plants"}))["total"]
                seen["another_users_task"] = others


async def main(url, ada, bob):
    seen = {}
    await without_a_token(url, seen)
    task = await as_ada(url, ada, seen)
    await as_bob(url, bob, task, seen)
    print(json.dumps(seen))


if __name__ == "__main__":
    tokens = os.environ.get("MCP_TOKEN"), os.environ.get("MCP_OTHER_TOKEN")
    if len(sys.argv) != 2 or not all(tokens):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    asyncio.run(main(sys.argv[1], *tokens))
