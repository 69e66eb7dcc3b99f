"""The stream meter behind every idle timeout and minimum rate: a drip is a stall, a stream that
moves enough is not, and a wait's deadline is exactly when the meter would say it stalled."""

from __future__ import annotations

import pytest
from baostore.grpc.rate import MinimumRate, StreamMeter
from hypothesis import given, settings
from hypothesis import strategies as st

PROPERTIES = settings(max_examples=200, deadline=None)
RATE = MinimumRate(1024, 1.0)
# Waits (seconds) and what each brought (bytes).
EVENTS = st.lists(st.tuples(st.floats(0, 3), st.integers(0, 4096)), max_size=40)


def feed(meter: StreamMeter, events: list[tuple[float, int]]) -> tuple[float, str | None]:
    """Run ``events`` through ``meter`` from time 0; the time it ends and the first stall."""
    now = 0.0
    for waited, moved in events:
        meter.wait_started(now)
        stalled = meter.stall(now + waited)
        if stalled is not None:
            return now + waited, stalled
        now += waited
        stalled = meter.wait_ended(now, moved)
        if stalled is not None:
            return now, stalled
    return now, None


def test_a_drip_is_too_slow_once_a_window_of_waiting_passed() -> None:
    meter = StreamMeter(idle_timeout=10.0, rate=RATE)
    now, stalled = feed(meter, [(0.2, 1)] * 4)
    assert stalled is None and now == pytest.approx(0.8)
    meter.wait_started(0.8)
    assert meter.deadline() == pytest.approx(1.0)
    stalled = meter.stall(1.0)
    assert stalled is not None and stalled.startswith("too slow: 4 bytes in 1 s of waiting")


def test_a_stream_faster_than_the_minimum_never_stalls() -> None:
    meter = StreamMeter(idle_timeout=10.0, rate=RATE)
    assert feed(meter, [(0.1, 200)] * 1000)[1] is None


def test_time_not_spent_waiting_does_not_count() -> None:
    meter = StreamMeter(idle_timeout=1.0, rate=RATE)
    meter.wait_started(0.0)
    assert meter.wait_ended(0.5, 1) is None
    # Ten seconds of the stream's own work (storing what came) before it waits again.
    meter.wait_started(10.5)
    assert meter.stall(10.9) is None
    assert meter.deadline() == pytest.approx(11.0)  # the window's other half


def test_a_silent_peer_is_idle_and_messages_without_data_do_not_end_the_wait() -> None:
    meter = StreamMeter(idle_timeout=2.0, rate=MinimumRate(0, 1.0))
    meter.wait_started(0.0)
    meter.wait_started(1.5)  # an empty message came: the wait goes on
    assert meter.deadline() == 2.0
    assert meter.stall(2.0) == "idle: no data for 2 s"


def test_no_minimum_means_only_idleness_stalls() -> None:
    meter = StreamMeter(idle_timeout=1.0, rate=MinimumRate(0, 0.5))
    assert feed(meter, [(0.9, 1)] * 100)[1] is None


@PROPERTIES
@given(events=EVENTS, extra=st.floats(0, 5), min_bytes=st.integers(0, 8192))
def test_a_wait_stalls_exactly_at_its_deadline(
    events: list[tuple[float, int]], extra: float, min_bytes: int
) -> None:
    meter = StreamMeter(idle_timeout=2.5, rate=MinimumRate(min_bytes, 1.0))
    now, stalled = feed(meter, events)
    if stalled is not None:
        return
    meter.wait_started(now)
    deadline = meter.deadline()
    assert deadline > now or meter.stall(now) is not None
    assert (meter.stall(now + extra) is None) is (now + extra < deadline)


@PROPERTIES
@given(events=EVENTS, more=st.lists(st.integers(0, 4096), min_size=40, max_size=40))
def test_a_peer_that_sends_more_never_stalls_sooner(
    events: list[tuple[float, int]], more: list[int]
) -> None:
    slower = feed(StreamMeter(idle_timeout=2.5, rate=RATE), events)
    faster_events = [
        (waited, moved + extra)
        for (waited, moved), extra in zip(events, more[: len(events)], strict=True)
    ]
    faster = feed(StreamMeter(idle_timeout=2.5, rate=RATE), faster_events)
    if faster[1] is not None:
        assert slower[1] is not None and slower[0] <= faster[0]
