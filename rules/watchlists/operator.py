"""``operator: in_watchlist``: a condition that matches a plate field against a hotlist.

The condition's check answers yes or no on the hot path. Once a rule has matched, the
bridge asks ``match_values`` how it matched, for the message (``{match.entry.reason}``),
the dedup key (``match.entry.plate``) and the entry's extra recipients.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence

from rules.operators import Condition, ConditionError, show
from rules.paths import PathError, compile_path
from rules.watchlists.entries import split_recipients
from rules.watchlists.matcher import WatchMatch
from rules.watchlists.section import Watchlist

OPERATOR = "in_watchlist"


def compile_in_watchlist(
    field: str, value: object, watchlists: Mapping[str, Watchlist]
) -> Condition:
    """The condition ``field in_watchlist value``; ConditionError names what is wrong."""
    problems: list[tuple[str, str]] = []
    try:
        get = compile_path(field)
    except PathError as exc:
        problems.append(("field", str(exc)))
    watchlist: Watchlist | None = None
    if not isinstance(value, str) or not value:
        problems.append(
            ("value", f"expected the name of a list under watchlists, got {show(value)}")
        )
    else:
        watchlist = watchlists.get(value)
        if watchlist is None and value in getattr(watchlists, "broken", ()):
            pass  # its own errors are reported under watchlists.NAME
        elif watchlist is None:
            problems.append(("value", _unknown(value, sorted(watchlists))))
    if problems or watchlist is None:
        raise ConditionError(problems)
    check = watchlist.matcher
    return Condition(
        field=field,
        operator=OPERATOR,
        value=watchlist,
        getter=get,
        check=check,
        test=lambda event: check(get(event)),
    )


def _unknown(name: str, known: list[str]) -> str:
    if not known:
        return f'unknown watchlist "{name}": the file has no watchlists section'
    hint = difflib.get_close_matches(name, known, n=1)
    if hint:
        return f'unknown watchlist "{name}" (did you mean "{hint[0]}"?)'
    return f'unknown watchlist "{name}" (known: {", ".join(known)})'


def best_match(conditions: Iterable[Condition], event: object) -> WatchMatch | None:
    """How ``event`` matched the first in_watchlist condition of a matched rule, if any."""
    for condition in conditions:
        if condition.operator == OPERATOR and isinstance(condition.value, Watchlist):
            return condition.value.matcher.best(condition.getter(event))
    return None


def match_values(conditions: Iterable[Condition], event: object) -> dict[str, object] | None:
    """``{"match": {...}}`` for templates and the dedup key, or None without a watchlist."""
    match = best_match(conditions, event)
    return {"match": match.template_values()} if match is not None else None


def entry_recipients(
    values: Mapping[str, object] | None,
    channel: str,
    current: Sequence[str] | None,
    defaults: Mapping[str, Sequence[str]],
) -> list[str] | None:
    """``current`` (or the channel's configured recipients) plus the entry's ``notify``.

    An address with "@" goes to email, one starting with "+" to SMS: the channels that
    take recipients. None when nothing is added (the rule's own choice stands).
    """
    match = values.get("match") if values else None
    entry = match.get("entry") if isinstance(match, dict) else None
    raw = entry.get("notify") if isinstance(entry, dict) else None
    if not isinstance(raw, str) or channel not in defaults:
        return None
    wanted = "@" if channel == "email" else "+" if channel == "sms" else None
    extra = [
        part
        for part in split_recipients(raw)
        if wanted is not None and (wanted in part if wanted == "@" else part.startswith("+"))
    ]
    if not extra:
        return None
    base = list(current) if current is not None else list(defaults[channel])
    return base + [item for item in extra if item not in base]
