"""``klaxon api``: the history, dead letters, rules and status as versioned JSON (docs/api.md)."""
