"""Drives the Todo MCP server with the official MCP Python SDK over Streamable HTTP.

    mcp_client.py URL        (the bearer token in $MCP_TOKEN, so that it shows in no process list)

Initializes, lists the tools, adds a task, lists it back, and has a refusal shown as a tool error;
prints what it saw as one JSON object and exits 1 at the first thing that is not as it should be.
Run by adapters/mcp/tests/python_sdk.rs through infra/local/mcp-python.
"""

import asyncio
import json
import os
import sys

import httpx2
from mcp import ClientSession
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


def check(condition, what):
    if not condition:
        print(f"mcp_client.py: {what}", file=sys.stderr)
        sys.exit(1)


async def main(url, token):
    seen = {}
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
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

                added = await session.call_tool(
                    "add_task", {"title": "Water the plants", "priority_id": 2, "tags": ["python"]}
                )
                check(not added.is_error, f"add_task failed: {added.content}")
                task = added.structured_content
                check(task["title"] == "Water the plants", f"add_task returned {task}")
                check(json.loads(added.content[0].text) == task, "the text is not the same JSON")
                seen["added"] = task

                page = await session.call_tool("list_tasks", {"tag": "python"})
                check(not page.is_error, f"list_tasks failed: {page.content}")
                seen["listed"] = page.structured_content
                check(page.structured_content["items"] == [task], f"list_tasks returned {page.structured_content}")

                refused = await session.call_tool("add_task", {"title": "   "})
                check(refused.is_error, "a blank title was accepted")
                seen["refused"] = refused.content[0].text
    print(json.dumps(seen))


if __name__ == "__main__":
    if len(sys.argv) != 2 or not os.environ.get("MCP_TOKEN"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    asyncio.run(main(sys.argv[1], os.environ["MCP_TOKEN"]))
