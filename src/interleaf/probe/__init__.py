"""Probes that name where interleaved thinking is lost.

* :func:`probe_endpoint` — does a model server read earlier thinking back, and in which field?
* :func:`probe_template` — which earlier reasoning does a chat template render into the prompt?

Both return a report (:mod:`interleaf.probe.report`) with an outcome that maps to an exit code:
0 kept, 1 leak found, 2 could not probe. Imports: probe -> backends | wire | transcript.
"""

from __future__ import annotations

from interleaf.probe.endpoint import EndpointOptions, probe_endpoint
from interleaf.probe.report import EndpointReport, Overall, ProbeReport, TemplateReport, Verdict
from interleaf.probe.template import load_template, probe_template

__all__ = [
    "EndpointOptions",
    "EndpointReport",
    "Overall",
    "ProbeReport",
    "TemplateReport",
    "Verdict",
    "load_template",
    "probe_endpoint",
    "probe_template",
]
