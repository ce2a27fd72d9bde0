"""Rules files written by tests, as a person writes them: no anchors or aliases.

PyYAML's dumper shares repeated objects through ``&id001`` anchors, which the rules
loader refuses (rules/bounded_yaml.py); tests must write what the loader accepts.
"""

from __future__ import annotations

from typing import Any

import yaml


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(data: Any) -> str:
    """``data`` as YAML text with every repeated value written out in full."""
    return yaml.dump(data, Dumper=_NoAliases, sort_keys=False)
