"""The durable history: alert events, notifications and their attempts, silences, in SQL.

Written only by ``klaxon recorder`` from the Redis outbox (``contract.outbox``); read by
the CLI and ``klaxon api``. See docs/history.md.
"""
