"""The IRC door: server (listeners, the registry of clients), session (one client's I/O),
registration (the sans-IO registration and CAP machine), commands (the command table) with its
handlers (connect, chat, channels, modes, queries, history), render (core messages and notices
as IRC lines) and context (what app.py passes in). See docs/irc.md."""
