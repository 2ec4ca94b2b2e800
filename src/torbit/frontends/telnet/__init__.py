"""The telnet door: server (listeners), session (one client's I/O), login (the sans-IO login
dialogue), commands (the command table) and context (what app.py passes in)."""
