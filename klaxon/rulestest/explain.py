"""``klaxon explain``: why each rule of a topic did or did not match one event, and what the
bridge would do next.

The verdict per condition reads the compiled conditions (``rules.operators.Condition``:
its getter and check, the very ones the engine runs). What happens next is not predicted:
the event goes through the bridge's pipeline in a ``Simulation`` on an in-process Redis,
seeded (``--live``) with a copy of the cooldown and lifecycle state the configured Redis
holds for it, which is only read.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import orjson
import redis

from alerts.lifecycle import state_key
from contract.redis_replies import text_fields
from contract.settings import Settings
from ingest.cooldown import KEY_PREFIX as COOLDOWN_PREFIX
from klaxon.rulestest.messages import SimulatedMessage
from klaxon.rulestest.simulation import Simulation
from klaxon.rulestest.store import SimulatedClock, in_process_redis
from rules.config import KlaxonConfig
from rules.grouping import group_key
from rules.linear_regex import LinearRegex
from rules.model import Rule
from rules.operators import Condition, show
from rules.paths import MISSING
from rules.range import RangeRule
from rules.stateful import Reading, StatefulRule
from rules.trends import TrendRule
from rules.watchlists.operator import OPERATOR as IN_WATCHLIST
from rules.watchlists.operator import match_values
from rules.watchlists.section import Watchlist

# The simulated event's partition: never a real one, so lifecycle state copied from Redis
# (which remembers the last partition/offset applied) cannot take it for a replay.
EXPLAIN_PARTITION = -1


@dataclass
class Explanation:
    lines: list[str] = field(default_factory=list)
    matched: list[str] = field(default_factory=list)  # rule ids


def condition_line(condition: Condition, event: object) -> tuple[bool, str]:
    """(holds, "`path` = value; operator value: verdict") for one condition."""
    found = condition.getter(event)
    holds = bool(condition.check(found))
    shown = "<missing>" if found is MISSING else show(found)
    verdict = "yes" if holds else "no"
    if condition.operator == IN_WATCHLIST and isinstance(condition.value, Watchlist):
        watchlist = condition.value
        best = watchlist.matcher.best(found) if found is not MISSING else None
        how = (
            f"{best.kind} match {best.entry.plate}"
            + (f" ({best.distance} character(s) differ)" if best.distance else "")
            if best is not None
            else "no entry matches"
        )
        return holds, f"{condition.field} = {shown}; in_watchlist {watchlist.name}: {how}"
    wanted = show(_as_written(condition.value))
    return holds, f"{condition.field} = {shown}; {condition.operator} {wanted}: {verdict}"


def _as_written(value: object) -> object:
    """A compiled condition value as the rules file wrote it."""
    if isinstance(value, LinearRegex):
        return value.pattern
    if isinstance(value, frozenset):
        return sorted(value, key=str)
    return value


def explain(
    config: KlaxonConfig,
    settings: Settings,
    topic: str,
    event: Mapping[str, object],
    rule_id: str | None = None,
    live: redis.Redis | None = None,
    now: float | None = None,
) -> Explanation:
    """Explain ``event`` on ``topic`` for every rule there (or ``rule_id``)."""
    now = time.time() if now is None else now
    out = Explanation()
    rules = [r for r in config.rules if r.source == topic and r.enabled]
    if rule_id is not None:
        rules = [r for r in rules if r.id == rule_id]
    store = in_process_redis()
    for rule in rules:
        if isinstance(rule, Rule):
            holds = _explain_match_rule(rule, event, out)
            if holds and rule.rate_limit is not None:
                _cooldown(rule, event, live, store, now, out)
            if holds and rule.group is not None:
                fields = rule.group.key_values(event)
                out.lines.append(
                    f"  group: held in group {group_key(fields) or '(whole rule)'!r}, sent "
                    f"{rule.group.wait:g}s after its first match"
                )
        elif isinstance(rule, StatefulRule):
            _explain_stateful(rule, event, live, store, out)
    out.lines += _what_happens(config, settings, topic, event, store, now, rules)
    return out


def _explain_match_rule(rule: Rule, event: object, out: Explanation) -> bool:
    verdicts = [condition_line(c, event) for c in rule.conditions]
    holds = all(ok for ok, _ in verdicts)
    out.lines.append(f"rule {rule.id} ({rule.name}): {'MATCHED' if holds else 'no match'}")
    for ok, line in verdicts:
        out.lines.append(f"  {'✓' if ok else '✗'} {line}")
    if holds:
        out.matched.append(rule.id)
    return holds


def _cooldown(
    rule: Rule,
    event: Mapping[str, object],
    live: redis.Redis | None,
    store: redis.Redis,
    now: float,
    out: Explanation,
) -> None:
    limit = rule.rate_limit
    assert limit is not None
    values = match_values(rule.conditions, event)
    context = {**event, **values} if values else dict(event)
    value = limit.dedup_value(context)
    key = f"{COOLDOWN_PREFIX}:{rule.id}:{'<missing>' if value is None else value}"
    if live is None:
        out.lines.append(f"  cooldown: free ({limit.cooldown_seconds}s per {value!r}, fresh state)")
        return
    holder, ttl_ms = live.get(key), int(live.pttl(key))
    if holder is None or ttl_ms <= 0:
        out.lines.append(f"  cooldown: free ({key})")
        return
    holder_text = holder.decode() if isinstance(holder, bytes) else str(holder)
    out.lines.append(
        f"  cooldown: held by {holder_text} for {ttl_ms / 1000:.0f}s more ({key}): suppressed"
    )
    store.set(key, holder_text, px=ttl_ms)


def _explain_stateful(
    rule: StatefulRule,
    event: Mapping[str, object],
    live: redis.Redis | None,
    store: redis.Redis,
    out: Explanation,
) -> None:
    if isinstance(rule, RangeRule):
        found: object = rule.observe_levels(event)
    elif isinstance(rule, TrendRule):
        found = rule.sample(event)
    else:
        found = rule.observe(event)
    if found is None:
        out.lines.append(f"rule {rule.id} ({rule.name}): not a reading of this rule")
        return
    if isinstance(found, Reading):
        verdict = "holds" if found.holds else ("clears" if found.clears else "neither")
        value = "" if found.value is None else f" = {found.value:g}"
        out.lines.append(
            f"rule {rule.id} ({rule.name}): reading of {found.key!r}{value}: condition {verdict}"
        )
    else:
        out.lines.append(f"rule {rule.id} ({rule.name}): observed {found}")
    key = getattr(found, "key", None)
    if not isinstance(key, str):
        return
    skey = state_key(rule.id, key)
    state = text_fields(live.hgetall(skey)) if live is not None else {}
    out.lines.append(
        f"  state of {key!r}: {state.get('state', 'ok')}"
        + (f", level {state['level']}" if "level" in state else "")
        + ("" if live is not None else " (fresh state)")
    )
    for name, value in state.items():  # the lifecycle's state, copied: the next step is real
        store.hset(skey, name, value)


def _what_happens(
    config: KlaxonConfig,
    settings: Settings,
    topic: str,
    event: Mapping[str, object],
    store: redis.Redis,
    now: float,
    rules: Sequence[object],
) -> list[str]:
    clock = SimulatedClock(now)
    simulation = Simulation(config, settings, store, clock)
    message = SimulatedMessage(topic, EXPLAIN_PARTITION, 0, orjson.dumps(event), int(now * 1000))
    simulation.process([message])
    if simulation.counts.rejected:
        return [f"the bridge would reject it: {simulation.counts.rejected[0].reason}"]
    # Held matches go out when their group is due: run the clock on to the longest wait.
    waits = [r.group.wait for r in rules if isinstance(r, Rule) and r.group is not None]
    if waits:
        simulation.advance(now + max(waits))
    ids = {getattr(r, "id", None) for r in rules}
    sent = [s for s in simulation.sent if s.notification.rule_id in ids]
    if not sent:
        return ["next: nothing would be sent"]
    lines = ["next: the bridge would send"]
    for item in sent:
        n = item.notification
        first = n.message.strip().splitlines()[0] if n.message.strip() else ""
        when = f"after {item.at - now:g}s: " if item.at > now else ""
        lines.append(f"  {when}{n.rule_id} {n.channel} {item.transition}: {first}")
    return lines
