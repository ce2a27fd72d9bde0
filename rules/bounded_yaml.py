"""Parse a config file's YAML text within bounds, so that no file can hang or crash a loader.

A few lines of YAML can be made to cost without bound:

- anchors and aliases (``&a`` / ``*a``): nine aliases of nine aliases of ... ("billion
  laughs") expand into gigabytes once the rules loader walks the data; merge keys
  (``<<: *a``) do the same inside PyYAML itself. A rules file has no need for them, so
  they are refused, not counted.
- deep nesting: ``[[[[...`` forty thousand deep crashes libyaml's composer (it recurses
  in C) and is quadratic before that; PyYAML's Python composer raises RecursionError.
- sheer size: the file is read at most ``max_bytes`` at a time and its values (nodes)
  are counted.

The checks walk the parser's events before anything is composed, so they stop at the
first offending event, whatever follows it. Duplicate keys are recorded too, as YAML
would otherwise keep only the last one silently.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

import yaml

MAX_BYTES_VARIABLE = "KLAXON_CONFIG_MAX_BYTES"
MAX_NODES_VARIABLE = "KLAXON_CONFIG_MAX_NODES"


@dataclass(frozen=True)
class YamlLimits:
    """How much YAML one config file may hold.

    The defaults leave room for a 100,000-plate watchlist (2 MB, 100,000 nodes); the
    environment variables raise them for a larger one.
    """

    max_bytes: int = 4 << 20
    max_nodes: int = 200_000
    # The deepest place in a valid file (a list value in a condition) is 6 levels down.
    max_depth: int = 64

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> YamlLimits:
        """The limits, with KLAXON_CONFIG_MAX_BYTES / _MAX_NODES applied; ValueError if bad."""
        return cls(
            max_bytes=_positive(env, MAX_BYTES_VARIABLE, cls.max_bytes),
            max_nodes=_positive(env, MAX_NODES_VARIABLE, cls.max_nodes),
        )


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) == 0:
        raise ValueError(f"{name}={raw!r} is not a positive whole number")
    return int(raw)


@dataclass(frozen=True)
class Refused:
    """The text breaks a bound: ``where`` is "line L, column C", ``message`` says which."""

    where: str
    message: str


# The document and the duplicate keys found in it, as (key, where the repeat is).
Parsed = tuple[object, list[tuple[str, yaml.Mark]]]


class _DuplicateKeys(yaml.constructor.SafeConstructor):
    """Records duplicate keys instead of keeping the last one silently (a loader mixin).

    It also turns the plain exceptions PyYAML's safe constructors raise for an explicit
    tag that does not fit its value (``!!int x``, ``!!bool maybe``) into YAML errors.

    Its base only lets the type checker see the constructor it is mixed into: in each
    loader it comes before that loader's own SafeConstructor, so ``super()`` is the same.
    """

    duplicates: list[tuple[str, yaml.Mark]]

    def construct_object(self, node: yaml.Node, deep: bool = False) -> object:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            what = f'"{node.value}"' if isinstance(node, yaml.ScalarNode) else "this value"
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {what} as {node.tag}", node.start_mark
            ) from exc

    def construct_mapping(
        self, node: yaml.MappingNode, deep: bool = False
    ) -> dict[Hashable, object]:
        if not isinstance(node, yaml.MappingNode):  # "!!map 0": PyYAML's own check says so
            return super().construct_mapping(node, deep=deep)
        seen: set[str] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(
                key_node, yaml.ScalarNode
            ):
                continue
            key = str(key_node.value)
            if key in seen:
                self.duplicates.append((key, key_node.start_mark))
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _Loader(_DuplicateKeys, yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates = []


# libyaml's parser when PyYAML has it: a 100,000-plate watchlist parses in 0.7 s, not 3.8 s.
# Its syntax errors are worded less helpfully, so a file that fails is parsed again by
# the Python loader for the message.
class _BoundedLoader(Protocol):
    """What ``parse`` uses of a loader, PyYAML's or libyaml's."""

    duplicates: list[tuple[str, yaml.Mark]]

    def get_event(self) -> yaml.Event | None: ...
    def get_single_data(self) -> object: ...
    def dispose(self) -> None: ...


_LOADERS: tuple[Callable[[str], _BoundedLoader], ...] = (_Loader,)
if yaml.__with_libyaml__:  # PyYAML sets it when yaml.CSafeLoader exists

    class _FastLoader(_DuplicateKeys, yaml.CSafeLoader):
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.duplicates = []

    _LOADERS = (_FastLoader, _Loader)


def parse(text: str, limits: YamlLimits) -> Parsed | Refused | yaml.YAMLError:
    """The document and its duplicate keys; or the bound it breaks; or the clearest error.

    ``text`` is already within ``limits.max_bytes``: the caller reads at most that much.
    """
    error: yaml.YAMLError | None = None
    for loader_class in _LOADERS:
        # Each loader's own parser is checked: where libyaml stops at a syntax error,
        # PyYAML's parser may read on, and the part it reads must be checked too.
        refused = _check_events(loader_class, text, limits)
        if refused is not None:
            return refused
        try:
            # The Python loader's constructor already reads the text: a control character
            # raises here, not in get_single_data.
            loader = loader_class(text)
        except yaml.YAMLError as exc:
            error = exc
            continue
        try:
            return loader.get_single_data(), loader.duplicates
        except yaml.YAMLError as exc:
            error = exc  # the next (Python) loader words it better
        finally:
            loader.dispose()
    assert error is not None
    return error


class ReadError(ValueError):
    """A YAML file that cannot be read as text; the message says why, for a person."""


def read_text(path: Path, limits: YamlLimits) -> str:
    """The file's text with universal newlines, no larger than ``limits`` allow."""
    try:
        with path.open("rb") as file:
            # One byte past the limit tells "too large" apart without reading it all.
            raw = file.read(limits.max_bytes + 1)
        if len(raw) > limits.max_bytes:
            raise ReadError(too_large(limits))
        return raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except FileNotFoundError:
        raise ReadError("file not found") from None
    except UnicodeDecodeError as exc:
        raise ReadError(f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    except OSError as exc:
        raise ReadError(f"cannot read the file: {exc.strerror or exc}") from None


def too_large(limits: YamlLimits) -> str:
    """The message for a file over ``limits.max_bytes``."""
    return (
        f"the file is larger than {limits.max_bytes} bytes (set {MAX_BYTES_VARIABLE} to allow more)"
    )


_OPENING = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_CLOSING = (yaml.SequenceEndEvent, yaml.MappingEndEvent)
_NO_ALIASES = (
    "is not allowed in a config file "
    "(aliases can expand a few lines into gigabytes): write the value out"
)


def _check_events(
    loader_class: Callable[[str], _BoundedLoader], text: str, limits: YamlLimits
) -> Refused | None:
    """The first event that breaks a bound, or None (a syntax error is left to the loader)."""
    nodes = depth = 0
    try:
        loader = loader_class(text)
    except yaml.YAMLError:
        return None
    try:
        while (event := loader.get_event()) is not None:
            kind = type(event)
            if kind is yaml.AliasEvent:
                alias = cast(yaml.AliasEvent, event).anchor
                return Refused(_at(event), f'YAML alias "*{alias}" {_NO_ALIASES}')
            if kind in _CLOSING:
                depth -= 1
                continue
            if kind is not yaml.ScalarEvent and kind not in _OPENING:
                continue  # stream and document boundaries
            anchor = cast(yaml.NodeEvent, event).anchor  # a scalar, sequence or mapping
            if anchor is not None:
                return Refused(_at(event), f'YAML anchor "&{anchor}" {_NO_ALIASES}')
            nodes += 1
            if nodes > limits.max_nodes:
                return Refused(
                    _at(event),
                    f"more than {limits.max_nodes} YAML values in the file "
                    f"(set {MAX_NODES_VARIABLE} to allow more)",
                )
            if kind in _OPENING:
                depth += 1
                if depth > limits.max_depth:
                    return Refused(
                        _at(event),
                        f"lists and mappings nested more than {limits.max_depth} levels deep",
                    )
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()
    return None


def _at(event: yaml.Event) -> str:
    mark = event.start_mark
    if mark is None:  # both parsers set it; the stubs allow None
        return "<file>"
    return f"line {mark.line + 1}, column {mark.column + 1}"


class _PlainDumper(yaml.SafeDumper):
    """Writes repeated values out in full: the loader refuses anchors and aliases."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def dump_plain(data: object) -> str:
    """``data`` as a rules file this loader accepts: YAML with no anchors or aliases."""
    return yaml.dump(data, Dumper=_PlainDumper, sort_keys=False, allow_unicode=True)
