"""Scored rows compared across engines or request orders: everything equal, but the confidence and its signals,
which are read from token probabilities, within a tolerance.

The same quantised GGUF evaluating the same prompt in other batches (another engine, a kept prompt prefix, four
requests at once on one server) gives slightly different logits, so a token's probability moves by up to ≈0.03
(measured: 0.7411 against 0.7692 for the same token of the same answer, on the embedded engine and through
llama-cpp-python's server), and a single token's lead over the next likeliest one by up to ≈0.15 where a LoRA adapter
runs (llama.cpp in-process against the server's own adapter path). The answers, flags, passages and scores do not
move, nor the other signals; the token signals are therefore judged through the confidence they feed, which must
agree within the tolerance.
"""

from __future__ import annotations

from typing import Any, Mapping

from core.chat.confidence import TOKEN_FEATURES

# how far a probability-derived figure may move between batches: above the noise seen (a confidence moved by 0.044 at
# most between the embedded engine and the server, thread counts vary with the machine's load), below a real change
CONFIDENCE_TOLERANCE = 0.1
FLOATED = ("confidence", "signals", "unsure")


def exact_part(row: Mapping[str, Any], ignore: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """The row without the keys in `ignore` and the confidence's figures (compared apart by `confidence_gap`)."""
    return {k: v for k, v in row.items() if k not in ignore and k not in FLOATED}


def confidence_gap(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The confidence figures of two rows that differ by more than CONFIDENCE_TOLERANCE ({} when they agree); the
    unsure mark may differ only where the two confidences lie on either side of the threshold within the tolerance."""
    out: dict[str, tuple[Any, Any]] = {}
    ca, cb = a.get("confidence"), b.get("confidence")
    if (ca is None) != (cb is None) or (ca is not None and abs(ca - cb) > CONFIDENCE_TOLERANCE):
        out["confidence"] = (ca, cb)
    sa, sb = a.get("signals") or {}, b.get("signals") or {}
    if set(sa) != set(sb):
        out["signals"] = (sorted(sa), sorted(sb))
    for name in (set(sa) & set(sb)) - set(TOKEN_FEATURES):
        if abs(float(sa[name]) - float(sb[name])) > CONFIDENCE_TOLERANCE:
            out[name] = (sa[name], sb[name])
    if a.get("unsure") != b.get("unsure") and "confidence" in out:
        out["unsure"] = (a.get("unsure"), b.get("unsure"))
    return out
