"""Prometheus metrics, with the seed's names and labels exactly, plus what operators need.

No event value and no recipient is ever a label: cardinality stays bounded by the config
(rule ids, channels, topics, partitions).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info

from contract import __version__

# The seed's metrics (001_936ba723dbb42527.txt, "Prometheus Metrics").
events_consumed = Counter("alert_engine_events_consumed_total", "Total events consumed")
rules_matched = Counter(
    "alert_engine_rules_matched_total", "Rules matched", ["rule_id", "priority"]
)
rule_evaluation_time = Histogram(
    "alert_engine_rule_evaluation_time_seconds",
    "Rule evaluation time per event",
    buckets=(1e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 1e-2),
)
alerts_triggered = Counter("alert_engine_alerts_triggered_total", "Alerts triggered", ["rule_id"])
alerts_rate_limited = Counter(
    "alert_engine_alerts_rate_limited_total", "Alerts rate-limited", ["rule_id"]
)
# Sends happen in the workers, which count them on their own endpoint (tasks.worker_metrics);
# the bridge exports these three too so that every seed name is on :8003, at zero.
notifications_sent = Counter(
    "alert_engine_notifications_sent_total", "Notifications sent", ["channel", "rule_id"]
)
notifications_failed = Counter(
    "alert_engine_notifications_failed_total", "Notification failures", ["channel", "error_type"]
)
notification_send_time = Histogram(
    "alert_engine_notification_send_time_seconds", "Notification send time", ["channel"]
)

# What an operator needs besides.
decode_errors = Counter(
    "klaxon_decode_errors_total", "Messages that could not be decoded (sent to the DLQ)", ["topic"]
)
event_failures = Counter(
    "klaxon_event_failures_total",
    "Decoded events that failed a later step: rules, templates, notifications (sent to the DLQ)",
    ["topic"],
)
notifications_enqueued = Counter(
    "klaxon_notifications_enqueued_total", "Notification tasks put on their queue", ["channel"]
)
enqueue_latency = Histogram(
    "klaxon_enqueue_latency_seconds",
    "Time to enqueue one batch's tasks in Redis",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
batch_retries = Counter(
    "klaxon_batch_retries_total", "Batches retried because Redis or the registry was down"
)
consumer_lag = Gauge(
    "klaxon_consumer_lag", "Messages behind the high watermark", ["topic", "partition"]
)
partitions_assigned = Gauge("klaxon_partitions_assigned", "Partitions assigned to this bridge")
config_reloads = Counter("klaxon_config_reloads_total", "Rule reloads", ["result"])
build_info = Info("klaxon_build", "Klaxon version")
build_info.info({"version": __version__})

# Queues and stores in Redis, sampled by the bridge (ingest.queue_depth) every few seconds.
queue_depth = Gauge(
    "klaxon_queue_depth", "Tasks waiting in a notification queue (Redis list)", ["queue"]
)
unacked_tasks = Gauge(
    "klaxon_unacked_tasks",
    "Tasks a worker holds unacknowledged (running sends; retries wait in klaxon:delayed)",
)
dead_letters = Gauge("klaxon_dead_letters", "Dead letters kept in Redis", ["channel"])
active_alerts = Gauge("klaxon_active_alerts", "Alerts in the triggered state", ["rule_id"])
alert_actions = Gauge(
    "klaxon_alert_actions",
    "What happened to acknowledgeable alerts so far, by action (ack, unack, reject, reminder, "
    "escalation) and rule: totals kept in Redis, where the CLI and the sweep count them",
    ["action", "rule_id"],
)
late_readings = Counter(
    "klaxon_late_readings_total", "Out-of-order readings a trend rule dropped", ["rule_id"]
)

# Grouping and storm mode (ingest/grouping_stage.py, ingest/group_flusher.py).
grouped_items = Counter(
    "klaxon_grouped_items_total", "Matches held in a group instead of sent alone", ["rule_id"]
)
groups_flushed = Counter(
    "klaxon_groups_flushed_total", "Group windows sent as one message per channel", ["rule_id"]
)
storm_switches = Counter(
    "klaxon_storm_switches_total",
    "Rules switched into (on) or out of (off) storm mode",
    ["rule_id", "state"],
)

# Muting (alerts.muting): notifications not sent, by rule and by what stopped them
# (silenced, muted by a schedule, inhibited), as the bridge muted them.
notifications_muted = Counter(
    "klaxon_notifications_muted_total",
    "Notifications not sent because a silence, a schedule or an inhibit rule muted them",
    ["rule_id", "status"],
)
