"""Thing Descriptions read as a WoT consumer reads them: hrefs resolved against `base`,
forms chosen by `op`, default methods of the HTTP binding."""

from __future__ import annotations

from typing import Any

import pytest

from labthings.client import NotOffered
from labthings.client.td import ThingDescription

URL = "http://lab:7485/stage/"


def td(**members: Any) -> dict[str, Any]:
    return {"title": "Stage", **members}


def prop(*forms: dict[str, Any], **members: Any) -> dict[str, Any]:
    return {"type": "number", **members, "forms": list(forms)}


@pytest.mark.parametrize(
    ("base", "href", "expected"),
    [
        ("http://lab:7485/stage/", "properties/speed", "http://lab:7485/stage/properties/speed"),
        ("http://lab:7485/stage/", "../actions/{id}", "http://lab:7485/actions/{id}"),
        ("http://lab:7485/stage/", "/other/x", "http://lab:7485/other/x"),
        ("http://lab:7485/stage/", "http://elsewhere:1/p", "http://elsewhere:1/p"),
        (None, "properties/speed", "http://lab:7485/stage/properties/speed"),
        ("/prefix/", "p", "http://lab:7485/prefix/p"),
    ],
)
def test_hrefs_are_resolved_against_base_and_the_td_url(
    base: str | None, href: str, expected: str
) -> None:
    document = td(properties={"speed": prop({"href": href})})
    if base is not None:
        document["base"] = base
    form = ThingDescription(document, URL).properties["speed"].form("readproperty")
    assert form.href == expected


def test_a_form_for_several_ops_gets_each_ops_default_method() -> None:
    speed = ThingDescription(td(properties={"speed": prop({"href": "p"})}), URL).properties["speed"]
    # A property form without `op` means readproperty and writeproperty (TD 1.1).
    assert speed.form("readproperty").method == "GET"
    assert speed.form("writeproperty").method == "PUT"
    with pytest.raises(NotOffered, match="offers no observeproperty"):
        speed.form("observeproperty")


def test_forms_are_picked_by_op_preferring_http_and_the_right_content_type() -> None:
    forms = [
        {"href": "coap://lab/p", "op": "readproperty"},
        {"href": "p.xml", "op": "readproperty", "contentType": "application/xml"},
        {"href": "p", "op": ["readproperty"], "htv:methodName": "get"},
        {"href": "p/ws", "op": "observeproperty", "subprotocol": "websub"},
        {"href": "p/events", "op": "observeproperty", "subprotocol": "sse"},
    ]
    speed = ThingDescription(td(properties={"speed": prop(*forms)}), URL).properties["speed"]
    read = speed.form("readproperty")
    assert (read.href, read.method) == ("http://lab:7485/stage/p", "GET")
    assert speed.form("observeproperty").href == "http://lab:7485/stage/p/events"


def test_uri_variables_are_filled_in_and_encoded() -> None:
    actions = {"move": {"forms": [{"href": "../actions/{id}", "op": "queryaction"}]}}
    move = ThingDescription(td(actions=actions), URL).actions["move"]
    form = move.form("queryaction")
    assert form.url(id="a b/c") == "http://lab:7485/actions/a%20b%2Fc"
    with pytest.raises(NotOffered, match=r"needs a value for \{id\}"):
        form.url()


def test_unknown_affordances_name_the_ones_there_are() -> None:
    description = ThingDescription(td(properties={"speed": prop({"href": "p"})}), URL)
    with pytest.raises(NotOffered, match=r"Stage has no property 'sped' \(its properties: speed\)"):
        description.affordance("properties", "sped")
    readonly = ThingDescription(
        td(properties={"x": prop({"href": "x", "op": "readproperty"}, readOnly=True)}), URL
    )
    with pytest.raises(NotOffered, match="read-only"):
        readonly.properties["x"].form("writeproperty")


def test_security_names_the_schemes() -> None:
    document = td(securityDefinitions={"b": {"scheme": "bearer"}}, security="b")
    assert ThingDescription(document, URL).security == ["bearer"]


def test_a_document_that_is_not_a_td_is_refused() -> None:
    with pytest.raises(NotOffered, match="did not answer with a Thing Description"):
        ThingDescription({"things": {}}, URL)
