"""Message templates: parsed at load, rendered without ever raising."""

from __future__ import annotations

import html

import pytest

from rules.templates import TemplateError, compile_template

EVENT = {
    "plate": {"normalized_text": "ABC123", "region": None, "confidence": 0.5},
    "camera_id": "cam-1",
    "captured_at": 1700000000000,
    "night": True,
    "bbox": [1, 2, 3, 4],
    "vehicle": {"color": "red", "make": "Äudi"},
    "note": "<b>&</b>",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Plate: {plate.normalized_text}", "Plate: ABC123"),
        ("{camera_id}@{captured_at}", "cam-1@1700000000000"),
        ("{plate.confidence} {night}", "0.5 true"),
        ("{bbox} {vehicle}", '[1,2,3,4] {"color":"red","make":"Äudi"}'),
        ("{bbox.2}", "3"),
        ("no placeholders", "no placeholders"),
        ("{{literal}} and {{{camera_id}}}", "{literal} and {cam-1}"),
        ("", ""),
    ],
)
def test_render_substitutes_fields(text: str, expected: str) -> None:
    """Placeholders are dot paths; values render as text, numbers, true/false or JSON."""
    assert compile_template(text).render(EVENT) == expected


def test_missing_and_none_render_as_missing_marker() -> None:
    """A missing path or a None value renders as <missing PATH>."""
    template = compile_template("{plate.region}/{vehicle.model}/{camera_id.x}")
    assert (
        template.render(EVENT)
        == "<missing plate.region>/<missing vehicle.model>/<missing camera_id.x>"
    )


def test_render_of_non_mapping_event_never_raises() -> None:
    """Rendering against something that is not a mapping still gives text."""
    assert compile_template("x={a.b}").render(None) == "x=<missing a.b>"


def test_extra_fills_what_the_event_lacks() -> None:
    """rule_id, rule_name and priority come from extra unless the event has them."""
    template = compile_template("[{priority}] {rule_name} ({rule_id}) {camera_id}")
    extra = {"rule_id": "r1", "rule_name": "Rule one", "priority": "high", "camera_id": "x"}
    assert template.render(EVENT, extra) == "[high] Rule one (r1) cam-1"
    assert template.render({"priority": "low"}, extra) == "[low] Rule one (r1) x"


def test_escape_applies_to_values_only() -> None:
    """escape is applied to substituted values and the missing marker, not to template text."""
    template = compile_template("<p>{note} {nope}</p>")
    assert template.render(EVENT, escape=html.escape) == (
        "<p>&lt;b&gt;&amp;&lt;/b&gt; &lt;missing nope&gt;</p>"
    )


def test_seed_template_renders() -> None:
    """The seed's watchlist template renders each field."""
    template = compile_template(
        "🚨 WATCHLIST PLATE DETECTED\nPlate: {plate.normalized_text}\n"
        "Camera: {camera_id}\nTime: {captured_at}\n"
    )
    assert template.paths == ("plate.normalized_text", "camera_id", "captured_at")
    assert template.render(EVENT) == (
        "🚨 WATCHLIST PLATE DETECTED\nPlate: ABC123\nCamera: cam-1\nTime: 1700000000000\n"
    )


HINT = (
    "a placeholder is a field path like {plate.normalized_text}; write {{ and }} for literal braces"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{x!r}", [f'invalid placeholder "{{x!r}}" ({HINT})']),
        ("{x:>10}", [f'invalid placeholder "{{x:>10}}" ({HINT})']),
        ("{x[0]}", [f'invalid placeholder "{{x[0]}}" ({HINT})']),
        ("{}", [f'invalid placeholder "{{}}" ({HINT})']),
        ("{ x }", [f'invalid placeholder "{{ x }}" ({HINT})']),
        ("{0}", [f'invalid placeholder "{{0}}" ({HINT})']),
        ("{a.__class__}", [f'invalid placeholder "{{a.__class__}}" ({HINT})']),
        ("ab {x", [f'unclosed "{{" at position 3 ({HINT})']),
        ("ab x}", [f'single "}}" at position 4 ({HINT})']),
        (
            "{a!s} and {b:x}",
            [f'invalid placeholder "{{a!s}}" ({HINT})', f'invalid placeholder "{{b:x}}" ({HINT})'],
        ),
    ],
)
def test_malformed_placeholders_are_rejected(text: str, expected: list[str]) -> None:
    """Anything but a dot path between braces is a load error; all of them are listed."""
    with pytest.raises(TemplateError) as caught:
        compile_template(text)
    assert caught.value.problems == expected
