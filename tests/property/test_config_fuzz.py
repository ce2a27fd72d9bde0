"""Any text at all, loaded as a rules file, gives a config or a config error, promptly."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.problems import ConfigInvalid
from rules.config import KlaxonConfig, load_config

SEED = Path(__file__).resolve().parents[2] / "config" / "alert_rules.yaml"
SEED_TEXT = SEED.read_text(encoding="utf-8")

# Pieces of YAML that exercise the parser's corners: indicators, anchors and aliases,
# merge keys, tags, flow and block collections, quoting, directives, env references.
TOKENS = [
    "\n", "\n  ", "\n    ", "\n- ", "- ", ": ", ":", ", ", "? ", "[", "]", "{", "}",
    "&a ", "*a", "&b ", "*b", "<<: ", "<<: *a", "!!str ", "!!map ", "!!binary ", "!foo ",
    "!!python/object:os.system ", "'", '"', "|\n  ", ">-\n  ", "#", "---\n", "...\n",
    "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "${A}", "${A:-x}", "$${", "\t", "\\", "\ufeff",
    "notifications", "rules", "sources", "webhook", "url", "id", "conditions", "field",
    "operator", "value", "regex", "in_list", "equals", "notify", "message_template",
    "plate.normalized_text", "{plate.normalized_text}", "(a+)+$", "([", "\\1", "~", "null",
    "true", "1e9", "0x1F", "-.inf", "2001-12-14", "x",
]  # fmt: skip

tokens_text = st.lists(st.sampled_from(TOKENS), max_size=60).map("".join)


@st.composite
def alias_bombs(draw: st.DrawFn) -> str:
    """A billion-laughs of random width and depth, possibly through merge keys."""
    width = draw(st.integers(2, 12))
    depth = draw(st.integers(1, 12))
    merge = draw(st.booleans())
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, depth + 1):
        if merge:
            keys = ", ".join(f"<<: *l{level - 1}" if i == 0 else f"k{i}: *l{level - 1}"
                             for i in range(width))  # fmt: skip
            lines.append(f"l{level}: &l{level} {{{keys}}}")
        else:
            lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
    where = draw(st.sampled_from(["before", "after", "alone"]))
    bomb = "\n".join(lines) + "\n"
    return {"before": bomb + SEED_TEXT, "after": SEED_TEXT + bomb, "alone": bomb}[where]


@st.composite
def deep_nesting(draw: st.DrawFn) -> str:
    """Flow or block nesting from shallow to far past the limit, closed or not."""
    depth = draw(st.sampled_from([1, 10, 63, 64, 65, 1_000, 50_000]))
    style = draw(st.sampled_from(["[", "{a: ", "- ", "a:\n"]))
    if style == "a:\n":
        text = "".join(" " * i + "a:\n" for i in range(min(depth, 2_000)))
    else:
        text = style * depth
    if style in ("[", "{a: ") and draw(st.booleans()):
        text += ("]" if style == "[" else "}") * depth
    return text


@st.composite
def mutated_seed(draw: st.DrawFn) -> str:
    """The seed example with a few tokens inserted or a span deleted at random places."""
    text = SEED_TEXT
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:at] + draw(st.sampled_from(TOKENS)) + text[at:]
        else:
            text = text[:at] + text[at + draw(st.integers(1, 40)) :]
    return text


@st.composite
def generated_rules(draw: st.DrawFn) -> str:
    """A rules file with random operators, values and regexes in otherwise valid YAML."""
    rules = []
    for i in range(draw(st.integers(0, 4))):
        operator = draw(st.sampled_from(["regex", "equals", "in_list", "greater_than", "exists"]))
        value = draw(
            st.one_of(
                st.from_regex(r"[\\()\[\]{}+*?|^$.a-z0-9<=!]{0,12}", fullmatch=True),
                st.integers(),
                st.lists(st.text(max_size=5), max_size=3),
                st.none(),
            )
        )
        rules.append(
            f"  - id: r{i}\n"
            f"    conditions: [{{field: {draw(st.sampled_from(['a', 'a.b', 'a..b', '1']))},"
            f" operator: {operator}, value: {value!r}}}]\n"
            "    notify: [webhook]\n"
            '    message_template: "{a}"\n'
        )
    return 'notifications:\n  webhook: {url: "http://127.0.0.1:9/"}\nrules:\n' + "".join(rules)


ANY_TEXT = st.one_of(
    st.text(max_size=200),
    tokens_text,
    alias_bombs(),
    deep_nesting(),
    mutated_seed(),
    generated_rules(),
)


@pytest.fixture(scope="module")
def rules_file() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory) / "alert_rules.yaml"


@settings(
    max_examples=300,
    # Each example is a millisecond or two; a bomb that expanded would take minutes.
    deadline=timedelta(seconds=2),
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(text=ANY_TEXT)
def test_any_text_gives_a_config_or_a_config_error(rules_file: Path, text: str) -> None:
    """No text makes the loader raise anything but ConfigInvalid, hang or blow up."""
    rules_file.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        config = load_config(rules_file, env={})
    except ConfigInvalid as invalid:
        errors = [p for p in invalid.problems if not p.warning]
        assert errors, "ConfigInvalid without an error"
        assert all(p.file == str(rules_file) for p in errors)
    else:
        assert isinstance(config, KlaxonConfig)
