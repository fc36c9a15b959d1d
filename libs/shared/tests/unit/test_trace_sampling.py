"""Head sampling from settings: new traces at the configured ratio, continued traces as their
parent decided (a trace is whole or absent). Run in a fresh interpreter each: the tracer provider
is process-wide and set once."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
from opentelemetry import trace
from shared.observability import configure_tracing, extract_context

configure_tracing("sampling-test", "0", None, sample_ratio={ratio})
tracer = trace.get_tracer("test")
new = [tracer.start_span("root").is_recording() for _ in range(200)]
sampled = extract_context({{"traceparent": "00-{trace}-00f067aa0ba902b7-01"}})
unsampled = extract_context({{"traceparent": "00-{trace}-00f067aa0ba902b7-00"}})
print(sum(new), tracer.start_span("c", context=sampled).is_recording(),
      tracer.start_span("c", context=unsampled).is_recording())
"""
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def run(ratio: float) -> str:
    script = SCRIPT.format(ratio=ratio, trace=TRACE)
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


def test_ratio_zero_records_no_new_trace_but_follows_a_sampled_parent() -> None:
    assert run(0.0) == "0 True False"


def test_ratio_one_records_every_new_trace_and_still_follows_the_parent() -> None:
    assert run(1.0) == "200 True False"
