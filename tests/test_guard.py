"""The display-reconfiguration guard on synthetic signal sequences, with a simulated clock.

A small simulated machine stands in for the platform: a display layout, whether the panel shows
black, and a capture instance that (like mss) keeps grabbing the layout it was made with. A client
loop drives the guard every tick the way `capture_client` does. Every emitted frame is checked:
never black, never a layout other than the one the machine has at that moment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from capture_client import guard as g
from capture_client.guard import DisplayGuard, Phase

BUILTIN, EXTERNAL = 1, 2
TWO_DISPLAYS = ((0, 0, 1512, 982), (1512, 0, 2560, 1440))
EXTERNAL_ONLY = ((0, 0, 2560, 1440),)
TICK = 0.1


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Machine:
    layout: tuple = TWO_DISPLAYS
    black: bool = False


@dataclass
class Sim:
    quiet: float = 1.5
    begin_timeout: float = 10.0
    poll_layout: bool = False
    """Read the displays before each capture (the geometry-polling signal)."""
    clock: Clock = field(default_factory=Clock)
    machine: Machine = field(default_factory=Machine)
    emitted: list[tuple[float, tuple]] = field(default_factory=list)
    refused: int = 0
    resets: int = 0
    layout_changes: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.guard = DisplayGuard(quiet_period=self.quiet, begin_timeout=self.begin_timeout, clock=self.clock)
        self.instance_layout: tuple | None = None

    def step(self) -> None:
        """One client iteration: reset if asked, else capture and offer the frame to the guard."""
        if self.poll_layout:
            self.guard.layout_seen(self.machine.layout)
        status = self.guard.status()
        if status.needs_reset:
            self.instance_layout = self.machine.layout
            self.resets += 1
            if self.guard.reset_done(self.machine.layout):
                self.layout_changes.append(self.clock.now)
            return
        ticket = self.guard.begin_capture()
        if ticket is None:
            return
        assert self.instance_layout is not None
        # A stale instance grabs the old rectangle: garbage or black on a real machine.
        black = self.machine.black or self.instance_layout != self.machine.layout
        frame_layout = self.instance_layout
        if self.guard.admit(ticket, black=black, layout=frame_layout):
            assert not black, f"black frame emitted at t={self.clock.now:.1f}"
            assert frame_layout == self.machine.layout, f"stale geometry emitted at t={self.clock.now:.1f}"
            self.emitted.append((self.clock.now, frame_layout))
        else:
            self.refused += 1

    def run(self, until: float, events: dict[float, list] | None = None) -> None:
        """Advance to `until`, applying `events` (time -> callables) before the client step."""
        events = {round(t, 1): fs for t, fs in (events or {}).items()}
        while self.clock.now < until - 1e-9:
            self.clock.now = round(self.clock.now + TICK, 1)
            for event in events.get(self.clock.now, []):
                event(self)
            self.step()

    def emitted_between(self, start: float, end: float) -> list[tuple[float, tuple]]:
        return [e for e in self.emitted if start <= e[0] < end]


def read_guard(**options) -> tuple[Clock, DisplayGuard]:
    """A guard on a simulated clock whose displays (TWO_DISPLAYS) were just read."""
    clock = Clock()
    guard = DisplayGuard(clock=clock, **options)
    guard.reset_done(TWO_DISPLAYS)
    return clock, guard


def cb(display: int, flags: int):
    return lambda sim: sim.guard.reconfiguration(display, flags)


def set_machine(**changes):
    def apply(sim: Sim) -> None:
        for key, value in changes.items():
            setattr(sim.machine, key, value)

    return apply


def test_capture_starts_only_after_the_displays_were_read():
    sim = Sim()
    assert sim.guard.status().needs_reset
    assert sim.guard.begin_capture() is None
    sim.run(0.5)
    assert sim.resets == 1
    assert sim.emitted and sim.emitted[0][1] == TWO_DISPLAYS
    assert sim.layout_changes == []  # the first read is not a change


def test_lid_close_pauses_at_begin_and_resumes_with_the_new_layout():
    sim = Sim(quiet=1.5)
    sim.run(
        6.0,
        {
            2.0: [cb(BUILTIN, g.BEGIN_CONFIGURATION), cb(EXTERNAL, g.BEGIN_CONFIGURATION)],
            2.1: [set_machine(black=True)],
            2.3: [
                set_machine(layout=EXTERNAL_ONLY),
                cb(BUILTIN, g.REMOVE | g.DISABLED),
                cb(EXTERNAL, g.SET_MAIN | g.MOVED),
            ],
            2.5: [cb(EXTERNAL, g.DESKTOP_SHAPE_CHANGED)],
            3.2: [set_machine(black=False)],
        },
    )
    assert sim.emitted_between(0, 2.0), "captured before the lid closed"
    assert sim.emitted_between(2.0, 2.5 + 1.5) == []  # paused from Begin until quiet
    after = sim.emitted_between(4.0, 6.1)
    assert after and all(layout == EXTERNAL_ONLY for _, layout in after)
    assert after[0][0] <= 4.2, "resumed promptly after the quiet period"
    assert sim.layout_changes and 4.0 <= sim.layout_changes[0] <= 4.1


def test_a_storm_of_rounds_within_two_seconds_holds_capture_until_it_is_over():
    events: dict[float, list] = {}
    t = 1.0
    while t < 3.0:  # begin/after rounds every 0.3 s, some after-calls with no flags
        events[t] = [cb(BUILTIN, g.BEGIN_CONFIGURATION)]
        events[round(t + 0.1, 1)] = [cb(BUILTIN, g.SET_MODE if int(t * 10) % 2 else 0)]
        t = round(t + 0.3, 1)
    events[1.5] = [*events.get(1.5, []), set_machine(black=True)]
    events[2.2] = [*events.get(2.2, []), set_machine(layout=EXTERNAL_ONLY)]
    events[2.9] = [*events.get(2.9, []), set_machine(black=False)]
    sim = Sim(quiet=1.5)
    sim.run(6.0, events)
    last_signal = max(events)
    assert sim.emitted_between(1.0, last_signal + 1.5) == []
    assert sim.emitted_between(last_signal + 1.5, 6.1)
    assert sim.emitted[-1][1] == EXTERNAL_ONLY
    assert sim.resets == 2  # the start-up read and one reset after the storm, not one per round


def test_after_calls_with_no_flags_end_the_begin():
    sim = Sim(quiet=1.0)
    sim.run(4.0, {1.0: [cb(BUILTIN, g.BEGIN_CONFIGURATION)], 1.2: [cb(BUILTIN, 0)]})
    assert sim.emitted_between(1.0, 2.2) == []
    assert sim.emitted_between(2.2, 2.4), "a flagless after-call closes the Begin"


def test_a_begin_without_its_after_call_holds_only_until_the_begin_timeout():
    sim = Sim(quiet=1.0, begin_timeout=3.0)
    sim.run(6.0, {1.0: [cb(BUILTIN, g.BEGIN_CONFIGURATION)]})
    assert sim.emitted_between(1.0, 4.0) == []
    assert sim.emitted_between(4.0, 4.2)


def test_sleep_holds_capture_until_wake_and_a_quiet_period_after_it():
    sim = Sim(quiet=1.5)
    sim.run(
        12.0,
        {
            1.0: [lambda s: s.guard.sleep(), set_machine(black=True)],
            6.0: [lambda s: s.guard.wake()],
            # The panel stays black a while after wake: longer than the quiet period.
            8.2: [set_machine(black=False)],
        },
    )
    assert sim.emitted_between(1.0, 8.2) == []
    assert sim.guard.status().phase is Phase.STEADY
    assert sim.emitted_between(8.2, 12.1)
    assert sim.refused >= 1  # the first frame after wake was black and was dropped


def test_status_while_asleep_has_no_settle_time():
    clock, guard = read_guard()
    guard.sleep()
    clock.now = 100.0
    status = guard.status()
    assert status.phase is Phase.SETTLING and status.settle_at is None
    assert status.reason == "displays asleep"


def test_black_frames_with_no_callback_at_all_pause_and_resume():
    sim = Sim(quiet=1.5)
    sim.run(7.0, {2.0: [set_machine(black=True)], 3.5: [set_machine(black=False)]})
    assert sim.emitted_between(2.0, 3.5) == []
    assert sim.refused >= 1
    resumed = sim.emitted_between(3.5, 7.1)
    assert resumed and resumed[0][0] <= 5.2
    assert sim.resets >= 2  # a fresh capture instance after the black spell


def test_a_layout_change_seen_by_polling_replaces_the_stale_capture_instance():
    sim = Sim(quiet=1.0, poll_layout=True)
    sim.run(5.0, {2.0: [set_machine(layout=EXTERNAL_ONLY)]})
    assert sim.emitted_between(2.0, 3.0) == []
    assert sim.emitted[-1][1] == EXTERNAL_ONLY
    assert sim.layout_changes == [pytest.approx(3.0)]


def test_a_frame_whose_capture_overlapped_a_signal_is_dropped():
    _, guard = read_guard(quiet_period=1.0)
    ticket = guard.begin_capture()
    assert ticket is not None
    guard.signal("randr: screen change")  # arrives while the grab runs
    assert guard.admit(ticket, black=False, layout=TWO_DISPLAYS) is False
    assert guard.begin_capture() is None


def test_a_frame_with_a_layout_other_than_the_known_one_is_refused():
    _, guard = read_guard(quiet_period=1.0)
    ticket = guard.begin_capture()
    assert ticket is not None
    assert guard.admit(ticket, black=False, layout=EXTERNAL_ONLY) is False
    assert guard.status().phase is Phase.SETTLING


def test_a_signal_during_the_reset_repeats_the_reset():
    clock, guard = read_guard(quiet_period=1.0)
    guard.signal("randr")
    clock.now = 1.5
    assert guard.status().needs_reset
    guard.signal("randr again")  # displays still moving while they were re-read
    assert guard.reset_done(EXTERNAL_ONLY) is True
    assert guard.status().phase is Phase.SETTLING
    clock.now = 2.6
    assert guard.status().needs_reset


def test_signals_reach_the_on_signal_hook():
    seen: list[str] = []
    guard = DisplayGuard(on_signal=seen.append)
    guard.reconfiguration(BUILTIN, g.BEGIN_CONFIGURATION)
    guard.reconfiguration(BUILTIN, g.REMOVE | g.DISABLED)
    guard.sleep()
    guard.wake()
    assert seen == ["begin", "remove+disabled", "sleep", "wake"]


def test_describe_flags_names_every_change():
    assert g.describe_flags(g.BEGIN_CONFIGURATION | g.REMOVE) == "begin"
    assert g.describe_flags(g.SET_MAIN | g.DESKTOP_SHAPE_CHANGED) == "set-main+desktop-shape"
    assert g.describe_flags(0) == "no flags"
