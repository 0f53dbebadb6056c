"""Turning MCP tool results into plain Python values."""

from __future__ import annotations

import json
from typing import Any

from mcp.types import CallToolResult, TextContent, Tool


def result_value(result: CallToolResult, tool: Tool | None) -> Any:
    """The value of a successful call.

    Structured content wins. The SDK's servers wrap a non-object return value
    as ``{"result": value}`` and say so in the output schema; that wrapper is
    removed. Without structured content, the text content is parsed as JSON
    when it is JSON and returned as a string otherwise.
    """
    structured = result.structured_content
    if structured is not None:
        if _is_wrapped(structured, tool):
            return structured["result"]
        return structured
    texts = [block.text for block in result.content if isinstance(block, TextContent)]
    if not texts:
        if not result.content:
            return None
        return [block.model_dump(mode="json", by_alias=True, exclude_none=True) for block in result.content]
    text = "\n".join(texts)
    try:
        return json.loads(text)
    except ValueError:
        return text


def error_text(result: CallToolResult) -> str:
    """The message of an ``isError`` result."""
    texts = [block.text for block in result.content if isinstance(block, TextContent)]
    return "\n".join(texts) or "the tool reported an error without a message"


def _is_wrapped(structured: Any, tool: Tool | None) -> bool:
    if tool is None or not isinstance(structured, dict) or set(structured) != {"result"}:
        return False
    schema = tool.output_schema or {}
    properties = schema.get("properties")
    return (
        isinstance(properties, dict)
        and set(properties) == {"result"}
        and schema.get("required") == ["result"]
        and str(schema.get("title", "")).endswith("Output")
    )
