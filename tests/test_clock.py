"""The lab clock: real time plus an offset; frozen, only ``advance`` moves it (for measurements on the lab clock)."""
import threading
import time

import pytest

from apisec_lab.core.clock import LabClock


def test_the_clock_follows_real_time_and_moves_forward_only():
    clock = LabClock()
    assert abs(clock.now() - time.time()) < 0.5
    assert clock.advance(minutes=2) - time.time() == pytest.approx(120, abs=0.5)
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_frozen_real_time_stands_still_and_advance_still_moves_it():
    clock = LabClock()
    with clock.frozen():
        start = clock.now()
        time.sleep(0.05)
        assert clock.now() == start                          # a busy kernel's real seconds do not count
        assert clock.advance(5) == start + 5
        seen = []
        t = threading.Thread(target=lambda: seen.append(clock.now()))   # the lab's server threads see it too
        t.start()
        t.join()
        assert seen == [start + 5]
    after = clock.now()
    assert after >= start + 5 + 0.05 - 0.01                 # out again: forward, from real time
    assert abs(after - (time.time() + 5)) < 0.5


def test_a_nested_freeze_is_held_by_the_outermost():
    clock = LabClock()
    with clock.frozen():
        start = clock.now()
        with clock.frozen():
            pass
        time.sleep(0.02)
        assert clock.now() == start
    assert clock.now() > start


def test_a_freeze_ends_even_when_its_block_fails():
    clock = LabClock()
    with pytest.raises(RuntimeError), clock.frozen():
        raise RuntimeError("boom")
    first = clock.now()
    time.sleep(0.02)
    assert clock.now() > first
