"""Muting: silences, schedules and inhibition, asked in turn by one stage (docs/alerts.md)."""
