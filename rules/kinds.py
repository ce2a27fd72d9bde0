"""Every kind of rule the loader produces, in one closed union.

A module of its own: rules.range and rules.trends build on rules.stateful, so the union
of all kinds can live in none of them.
"""

from __future__ import annotations

from typing import TypeAlias

from rules.model import Rule
from rules.range import RangeRule
from rules.stateful import StatefulMatchRule, ThresholdRule
from rules.trends import TrendRule

# A closed set: a check of one kind narrows to the rest.
AnyRule: TypeAlias = Rule | ThresholdRule | StatefulMatchRule | RangeRule | TrendRule
