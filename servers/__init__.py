"""realtime-mcp: MCP servers that give a voice model skills, screen frames and a pointer."""

__version__ = "0.1.0"
