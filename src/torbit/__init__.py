"""torbit: a multi-room chat server with telnet, HTTP and WebSocket front doors."""

__version__ = "0.1.0"
