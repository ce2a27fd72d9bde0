"""Rules: conditions and templates compiled at load, and the engine that matches events.

One module per job: ``paths`` (dot paths into events), ``operators`` (conditions),
``templates`` (messages), ``envsubst`` (``${VAR}`` in config values), ``model`` (what a
rule is: the base every rule shares, and the stateless match rule), ``stateful`` (the
stateful base, threshold rules and match rules with a state key), ``loader``
(YAML -> rules, with every problem reported), ``engine`` (matching).
"""

from rules.engine import RuleEngine
from rules.loader import ChannelDirectory, load_rules
from rules.model import PRIORITIES, BaseRule, Priority, RateLimit, Rule
from rules.operators import OPERATORS, Condition, ConditionError, compile_condition
from rules.paths import MISSING, PathError, compile_path
from rules.stateful import AnyRule, StatefulMatchRule, StatefulRule, ThresholdRule
from rules.templates import Template, TemplateError, compile_template

__all__ = [
    "MISSING",
    "OPERATORS",
    "PRIORITIES",
    "AnyRule",
    "BaseRule",
    "ChannelDirectory",
    "Condition",
    "ConditionError",
    "PathError",
    "Priority",
    "RateLimit",
    "Rule",
    "RuleEngine",
    "StatefulMatchRule",
    "StatefulRule",
    "Template",
    "TemplateError",
    "ThresholdRule",
    "compile_condition",
    "compile_path",
    "compile_template",
    "load_rules",
]
