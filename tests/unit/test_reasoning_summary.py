"""Telling OpenAI's refusal of a reasoning summary from any other error, and taking the summary out."""

from __future__ import annotations

import json

from interleaf.backends import reasoning_summary
from interleaf.backends.errors import BackendHTTPError
from interleaf.backends.reasoning_summary import (
    SummaryRefusals,
    credential_of,
    refuses_summary,
    without_summary,
)

REFUSAL = {
    "error": {
        "message": "Your organization must be verified to generate reasoning summaries.",
        "type": "invalid_request_error",
        "param": "reasoning.summary",
        "code": "unsupported_value",
    }
}


def _error(status: int, body: object, message: str = "") -> BackendHTTPError:
    raw = json.dumps(body).encode() if body is not None else b""
    return BackendHTTPError(status, message, url="https://api.openai.com/v1/responses", body=raw)


def test_the_refusal_is_told_by_its_param_and_only_on_a_400() -> None:
    assert refuses_summary(_error(400, REFUSAL, REFUSAL["error"]["message"]))
    other = {"error": {**REFUSAL["error"], "param": "reasoning.effort"}}
    assert not refuses_summary(
        _error(400, other, "Your organization must be verified to generate reasoning summaries.")
    )
    assert not refuses_summary(_error(500, REFUSAL, REFUSAL["error"]["message"]))
    # A proxy that rewrote the body keeps only the text: the text says it.
    assert refuses_summary(
        _error(400, None, "Your organization must be verified to generate reasoning summaries.")
    )
    assert not refuses_summary(_error(400, None, "Invalid value: 'x'."))


def test_without_summary_takes_out_only_the_summary() -> None:
    body = {"model": "gpt-5", "input": "hi", "reasoning": {"effort": "high", "summary": "auto"}}
    out = without_summary(json.dumps(body).encode())
    assert out is not None and json.loads(out) == {**body, "reasoning": {"effort": "high"}}
    assert without_summary(json.dumps({"model": "gpt-5", "reasoning": {"effort": "low"}}).encode()) is None
    assert without_summary(b"not json") is None


def test_credentials_are_remembered_as_digests_within_a_bound() -> None:
    refusals = SummaryRefusals()
    refusals.remember("Bearer sk-one")
    assert refusals.refused("Bearer sk-one") and not refusals.refused("Bearer sk-two")
    assert all(b"sk-one" not in digest for digest in refusals._refused)
    for n in range(reasoning_summary._REMEMBERED):
        refusals.remember(f"Bearer sk-{n}")
    # Past the bound the memory starts again: bounded, at the cost of one more refusal per key.
    assert len(refusals._refused) <= reasoning_summary._REMEMBERED
    assert not refusals.refused("Bearer sk-one")
    # The key, and the organization it acts for when the request names one (what OpenAI verifies).
    key = credential_of({"Authorization": "Bearer k", "Content-Type": "application/json"})
    assert key == credential_of({"authorization": "Bearer k"}) != credential_of({"x-api-key": "k"})
    assert credential_of({"Authorization": "Bearer k", "OpenAI-Organization": "org-b"}) != key
    assert credential_of({"Content-Type": "application/json"}) == ""
