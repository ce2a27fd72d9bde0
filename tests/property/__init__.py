"""Property and fuzz tests (hypothesis), each on a fixed example budget: at most 60 s in all."""
