"""Stateful alerts: the triggered -> resolved lifecycle per (rule, key), and its history."""
