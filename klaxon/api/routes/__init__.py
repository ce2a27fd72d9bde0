"""One router per resource under /api/v1: status, alerts, notifications, dead letters, rules."""
