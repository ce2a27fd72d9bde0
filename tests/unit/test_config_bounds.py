"""The YAML of a config file is read within bounds: size, values, depth, no aliases."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from contract.problems import ConfigInvalid
from rules.config import check_config, load_config

TESTDATA = Path(__file__).resolve().parents[1] / "testdata" / "config"
SEED = Path(__file__).resolve().parents[2] / "config" / "alert_rules.yaml"

RULES = """\
notifications:
  webhook: {url: "https://hooks.example.com/alpr"}
rules:
  - id: watch
    conditions:
      - field: plate.normalized_text
        operator: in_list
        value:
"""
TAIL = """\
    notify: [webhook]
    message_template: "Plate {plate.normalized_text}"
"""


def watchlist(tmp_path: Path, plates: int) -> Path:
    """A rules file whose one rule watches ``plates`` plates, one a line."""
    path = tmp_path / "watchlist.yaml"
    lines = "".join(f"        - P{i:06d}\n" for i in range(plates))
    path.write_text(RULES + lines + TAIL, encoding="utf-8")
    return path


def errors(path: Path, **env: str) -> list[str]:
    _, problems = check_config(path, env=env)
    return [str(p).removeprefix(f"{path}: ") for p in problems if not p.warning]


def test_a_100000_plate_watchlist_fits_the_default_limits(tmp_path: Path) -> None:
    """The limits leave room for the largest watchlist we document (100,000 plates)."""
    config = load_config(watchlist(tmp_path, 100_000), env={})
    assert len(config.rules) == 1


def test_a_file_over_the_default_size_is_refused_without_parsing(tmp_path: Path) -> None:
    """A file over 4 MiB is one error naming the file and the variable that raises it."""
    path = tmp_path / "big.yaml"
    path.write_text(SEED.read_text() + "#" * (4 << 20), encoding="utf-8")
    assert errors(path) == [
        "<file>: the file is larger than 4194304 bytes (set KLAXON_CONFIG_MAX_BYTES to allow more)"
    ]


def test_the_size_limit_comes_from_the_environment(tmp_path: Path) -> None:
    """KLAXON_CONFIG_MAX_BYTES moves the limit either way."""
    size = len(SEED.read_bytes())
    assert errors(SEED, KLAXON_CONFIG_MAX_BYTES=str(size - 1)) == [
        f"<file>: the file is larger than {size - 1} bytes "
        "(set KLAXON_CONFIG_MAX_BYTES to allow more)"
    ]
    assert errors(SEED, KLAXON_CONFIG_MAX_BYTES=str(size)) == []


def test_more_values_than_the_default_limit_are_refused(tmp_path: Path) -> None:
    """200,001 values are one error at the value over the limit."""
    path = watchlist(tmp_path, 200_000)  # plus the keys and values around them
    assert errors(path) == [
        "line 199988, column 11: more than 200000 YAML values in the file "
        "(set KLAXON_CONFIG_MAX_NODES to allow more)"
    ]


def test_the_value_limit_comes_from_the_environment(tmp_path: Path) -> None:
    """KLAXON_CONFIG_MAX_NODES moves the limit either way."""
    path = watchlist(tmp_path, 1000)
    assert errors(path, KLAXON_CONFIG_MAX_NODES="1000") == [
        "line 988, column 11: more than 1000 YAML values in the file "
        "(set KLAXON_CONFIG_MAX_NODES to allow more)"
    ]
    assert errors(path, KLAXON_CONFIG_MAX_NODES="1100") == []


@pytest.mark.parametrize("value", ["lots", "-1", "0", "1e6"])
def test_a_bad_limit_variable_is_a_config_error(value: str) -> None:
    """A limit that is not a positive whole number is reported, not a traceback."""
    assert errors(SEED, KLAXON_CONFIG_MAX_NODES=value) == [
        f"<file>: KLAXON_CONFIG_MAX_NODES={value!r} is not a positive whole number"
    ]


def test_a_billion_laughs_is_refused_at_once() -> None:
    """The alias bomb under an unused key is refused before anything expands it."""
    path = TESTDATA / "yaml_alias_bomb.yaml"
    started = time.monotonic()
    with pytest.raises(ConfigInvalid) as caught:
        load_config(path, env={})
    # Refused in about a millisecond; expanding it would take minutes and gigabytes.
    assert time.monotonic() - started < 1
    assert [str(p) for p in caught.value.problems] == [
        f'{path}: line 10, column 7: YAML anchor "&l0" is not allowed in a config file '
        "(aliases can expand a few lines into gigabytes): write the value out"
    ]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        # libyaml's C composer recurses per level: this deep it crashes the process.
        ("[" * 100_000 + "]" * 100_000, "line 1, column 65"),
        ("- " * 100_000 + "x", "line 1, column 129"),
        # A syntax error further on must not let the Python loader recurse past the limit.
        ("[" * 100_000 + "}", "line 1, column 65"),
    ],
)
def test_deep_nesting_is_refused_not_crashed_on(tmp_path: Path, text: str, error: str) -> None:
    """Nesting beyond 64 levels is an error at the first level too many."""
    path = tmp_path / "deep.yaml"
    path.write_text(text, encoding="utf-8")
    assert errors(path) == [f"{error}: lists and mappings nested more than 64 levels deep"]


def test_the_seed_and_every_config_file_still_load() -> None:
    """No file we ship uses anchors or comes near a limit."""
    for path in sorted((SEED.parent).glob("*.yaml")):
        assert errors(path) == [], path
