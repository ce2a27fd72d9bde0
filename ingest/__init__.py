"""The Kafka bridge: consume, decode, evaluate rules, enqueue notification tasks, commit."""
