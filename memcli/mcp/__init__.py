"""The MCP front end: `memcli mcp` serves the memory to other assistants over the Model Context
Protocol (stdio). Like cli and tui it imports services and core only, never another front end."""
