"""Run the cases of a test file through a ``Simulation`` and compare what was sent."""

from __future__ import annotations

import difflib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from contract.settings import Settings
from klaxon.rulestest.messages import SimulatedMessage
from klaxon.rulestest.simulation import Sent, Simulation
from klaxon.rulestest.store import SimulatedClock, in_process_redis
from klaxon.rulestest.testfile import Case, Expected, Step, TestFile, TestFileError
from rules.config import KlaxonConfig, check_config


@dataclass(frozen=True)
class Actual:
    """One notification the case produced, as a diff shows it."""

    offset: float  # seconds after the case's start
    rule: str
    channel: str
    transition: str
    message: str

    def satisfies(self, expected: Expected) -> bool:
        return (
            self.rule == expected.rule
            and expected.channel in (None, self.channel)
            and expected.transition in (None, self.transition)
            and (expected.message is None or expected.message in self.message)
            and (expected.at is None or abs(expected.at - self.offset) < 0.001)
        )

    def describe(self) -> str:
        first = self.message.strip().splitlines()[0] if self.message.strip() else ""
        more = " …" if len(self.message.strip().splitlines()) > 1 else ""
        return (
            f"at {self.offset:g}s rule={self.rule} channel={self.channel} "
            f"transition={self.transition} message={first!r}{more}"
        )


@dataclass
class CaseResult:
    file: Path
    name: str
    sent: list[Actual] = field(default_factory=list)
    diff: list[str] = field(default_factory=list)  # empty when the case passed
    error: str | None = None  # the case could not run (bad input)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.diff and self.error is None


def load_rules(test: TestFile, settings: Settings) -> KlaxonConfig:
    config, problems = check_config(test.rules, default_topic=settings.kafka_topic)
    errors = [p for p in problems if not p.warning]
    if errors or config is None:
        listed = "; ".join(str(p) for p in errors) or "cannot be loaded"
        raise TestFileError(f"{test.path}: rules: {test.rules} has errors: {listed}")
    known = {rule.id for rule in config.rules}
    for case in test.cases:
        for i, expected in enumerate(case.expected):
            if expected.rule not in known:
                hint = difflib.get_close_matches(expected.rule, sorted(known), n=1)
                also = (
                    f' (did you mean "{hint[0]}"?)'
                    if hint
                    else f" (known: {', '.join(sorted(known))})"
                )
                raise TestFileError(
                    f"{test.path}: case {case.name!r}: expect[{i}].rule: unknown rule "
                    f"{expected.rule!r} in {test.rules.name}{also}"
                )
    return config


def run_file(test: TestFile, settings: Settings) -> list[CaseResult]:
    """Every case of ``test``, each on a fresh store and clock."""
    config = load_rules(test, settings)
    return [run_case(test, case, config, settings) for case in test.cases]


def run_case(test: TestFile, case: Case, config: KlaxonConfig, settings: Settings) -> CaseResult:
    started = time.perf_counter()
    result = CaseResult(test.path, case.name)
    clock = SimulatedClock(test.start)
    simulation = Simulation(config, settings, in_process_redis(), clock)
    offsets: dict[str, int] = {}
    for at, indexed in _batches(case.steps):
        simulation.advance(test.start + at)
        batch: list[SimulatedMessage] = []
        index_of: dict[tuple[str, int], int] = {}
        for index, step in indexed:
            offset = offsets.get(step.topic, 0)
            offsets[step.topic] = offset + 1
            index_of[(step.topic, offset)] = index
            stamp = int((test.start + at) * 1000)
            batch.append(SimulatedMessage(step.topic, 0, offset, _payload(step), stamp))
        before = len(simulation.counts.rejected)
        simulation.process(batch)
        for rejected in simulation.counts.rejected[before:]:
            message = rejected.message
            index = index_of[(message.topic() or "", message.offset() or 0)]
            result.error = (
                f"{test.path}: case {case.name!r}: events[{index}].event: "
                f"the bridge rejects it: {rejected.reason}"
            )
            return result
    simulation.advance(test.start + case.until)
    result.sent = [_actual(s, test.start) for s in simulation.sent]
    result.diff = compare(case.expected, result.sent)
    result.seconds = time.perf_counter() - started
    return result


def _batches(steps: Sequence[Step]) -> list[tuple[float, list[tuple[int, Step]]]]:
    """Events at the same time form one batch, as one poll of the bridge would."""
    batches: list[tuple[float, list[tuple[int, Step]]]] = []
    for index, step in enumerate(steps):
        if batches and batches[-1][0] == step.at:
            batches[-1][1].append((index, step))
        else:
            batches.append((step.at, [(index, step)]))
    return batches


def _payload(step: Step) -> bytes:
    if isinstance(step.event, str):
        return step.event.encode()
    return orjson.dumps(step.event)


def _actual(sent: Sent, start: float) -> Actual:
    n = sent.notification
    return Actual(round(sent.at - start, 3), n.rule_id, n.channel, sent.transition, n.message)


def compare(expected: Sequence[Expected], sent: Sequence[Actual]) -> list[str]:
    """The diff of expected against sent: empty when each expectation took exactly one
    notification and none was left over. Lines: ``-`` expected, not sent; ``+`` sent, not
    expected; two spaces: both."""
    left = list(sent)
    matched: list[tuple[Expected, Actual]] = []
    missing: list[Expected] = []
    for wanted in expected:
        found = next((a for a in left if a.satisfies(wanted)), None)
        if found is None:
            missing.append(wanted)
        else:
            left.remove(found)
            matched.append((wanted, found))
    if not missing and not left:
        return []
    lines = [f"  {a.describe()}" for _, a in matched]
    lines += [f"- expected, not sent: {m.describe()}" for m in missing]
    lines += [f"+ sent, not expected: {a.describe()}" for a in left]
    if not sent:
        lines.append("  (nothing was sent)")
    return lines
