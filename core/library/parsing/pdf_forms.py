"""What a person typed or ticked into a PDF form's fields, as lines of text for the page that shows them.

A fillable PDF (a tax form, an insurance claim, a bank's application) keeps its entries in form-field
widgets, not in the page's text: pypdf's `extract_text()` returns the printed labels and none of the
answers, so "What is the policy number?" found nothing. Each filled field becomes "label: value", the
label being the field's tooltip (`/TU`, what a screen reader says: "Name (as shown on your income tax
return)") or else its name; a ticked box reads "label: yes (ticked)", a radio button its label and the option chosen.
Empty fields and unticked boxes give nothing, so a blank form reads as before.
"""

from __future__ import annotations

import re
from typing import Any

HEADING = "Filled-in form fields:"
MAX_FIELDS = 1000  # per page: a hostile file may hold millions of widgets
MAX_LABEL = 200
MAX_VALUE = 1000
_TICKED = {"yes", "on", "1", "true", "x", "checked"}  # export names that say only "ticked"
_INDEX = re.compile(r"\[\d+\]$")  # "f1_01[0]": the index XFA-made forms add to a field's name


def filled_fields(page: Any) -> list[str]:
    """One "label: value" line per filled field of a pypdf page, in the page's widget order."""
    lines: list[str] = []
    try:
        annotations = page.get("/Annots") or []
        for ref in list(annotations)[:MAX_FIELDS]:
            line = _field_line(ref.get_object())
            if line and line not in lines:  # the widgets of one field (a radio group's kids) say it once
                lines.append(line)
    except Exception:  # noqa: BLE001 - a damaged form dictionary loses only its fields, never the page's text
        return lines
    return lines


def with_filled_fields(text: str, page: Any) -> str:
    """The page's text followed by its filled form fields (unchanged when there are none)."""
    lines = filled_fields(page)
    if not lines:
        return text
    return f"{text.rstrip()}\n\n{HEADING}\n" + "\n".join(lines)


def _field_line(widget: Any) -> str:
    if not hasattr(widget, "get") or widget.get("/Subtype") != "/Widget":
        return ""
    chain = _with_parents(widget)
    kind = _inherited(chain, "/FT")
    label = _label(chain)
    if kind == "/Btn":
        state = _name(widget.get("/AS"))
        if not state or state.lower() == "off":
            return ""
        if state.lower() in _TICKED:
            return f"{label}: yes (ticked)" if label else ""
        return f"{label}: {state}" if label and label != state else f"Selected: {state}"
    if kind not in ("/Tx", "/Ch"):  # a signature's value is a signature dictionary, not something typed
        return ""
    value = _inherited(chain, "/V")
    if isinstance(value, list):  # a list box with several entries chosen
        value = ", ".join(_text(v) for v in value)
    value = _text(value)
    if not value:
        return ""
    return f"{label or 'Field'}: {value[:MAX_VALUE]}"


def _with_parents(widget: Any) -> list[Any]:
    """The widget and its parent fields, nearest first (a field's kind and value may sit on a parent)."""
    chain, node = [widget], widget
    while len(chain) < 16 and node.get("/Parent") is not None:
        node = node["/Parent"].get_object()
        chain.append(node)
    return chain


def _inherited(chain: list[Any], key: str) -> Any:
    return next((node[key] for node in chain if key in node), None)


def _label(chain: list[Any]) -> str:
    tooltip = _text(_inherited(chain, "/TU"))
    if tooltip:
        return tooltip[:MAX_LABEL]
    parts = [_INDEX.sub("", _text(node.get("/T"))) for node in reversed(chain)]
    return ".".join(p for p in parts if p)[:MAX_LABEL]


def _name(value: Any) -> str:
    return str(value).lstrip("/").strip() if value is not None else ""


def _text(value: Any) -> str:
    from pypdf.generic import NameObject  # pypdf is imported where PDFs are parsed, not with this module

    if value is None:
        return ""
    if hasattr(value, "get_object"):
        value = value.get_object()
    text = _name(value) if isinstance(value, NameObject) else str(value)
    return " ".join(text.split())
