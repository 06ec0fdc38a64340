"""The speed half of a check (harness/speed.py): verdicts, not comparable, compile warnings, keeping
an unchanged speed section."""

from __future__ import annotations

import pytest

from myriad_bench.harness.baseline_meta import SpeedSection
from myriad_bench.harness.records import Timing
from myriad_bench.harness.speed import SpeedOptions, compare_speed, section_to_keep


def timing(seconds: list[float], *, compile_s: float = 1.0, cache: str = "compiled") -> Timing:
    return Timing(env_steps=10_000, round_s=tuple(seconds), compile_s=compile_s, compile_cache=cache)


def section(seconds: list[float], *, compile_s: float = 1.0, cache: str = "compiled") -> SpeedSection:
    rates = [10_000 / s for s in seconds]
    return SpeedSection(
        env_steps_per_s=sorted(rates)[len(rates) // 2], spread=0.01, rounds=len(rates), rates=rates,
        compile_s=compile_s, compile_cache=cache,
    )  # fmt: skip


BASE = [0.100, 0.101, 0.099, 0.100, 0.102, 0.098]


def test_slower_faster_and_no_change_on_the_same_platform():
    options = SpeedOptions()
    slower = compare_speed(timing([s * 1.5 for s in BASE]), section(BASE), options)
    assert slower.verdict == "slower" and slower.ratio == pytest.approx(1 / 1.5, rel=0.02)
    assert slower.baseline_env_steps_per_s == pytest.approx(100_000, rel=0.02)
    assert slower.rounds == slower.baseline_rounds == 6 and "rounds" in slower.reason
    assert compare_speed(timing([s / 1.5 for s in BASE]), section(BASE), options).verdict == "faster"
    assert compare_speed(timing([s * 1.1 for s in BASE]), section(BASE), options).verdict == "no change"
    # The margin is the user's: 10% slower is "slower" at a 5% margin.
    tight = SpeedOptions(margin=0.05)
    assert compare_speed(timing([s * 1.1 for s in BASE]), section(BASE), tight).verdict == "slower"


def test_not_comparable_without_a_section_or_on_another_platform():
    none = compare_speed(timing(BASE), None, SpeedOptions())
    assert none.verdict == "not comparable" and "no speed for this platform" in none.reason
    other = compare_speed(timing(BASE), section(BASE), SpeedOptions(), not_comparable="cpu_model differs")
    assert other.verdict == "not comparable" and other.reason == "cpu_model differs"
    assert other.baseline_env_steps_per_s is None


def test_off_gives_no_record_and_bad_options_are_refused():
    assert compare_speed(timing(BASE), section(BASE), SpeedOptions(mode="off")) is None
    with pytest.raises(ValueError, match="speed mode must be one of check, report, off"):
        SpeedOptions(mode="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"speed margin must lie in \[0, 1\)"):
        SpeedOptions(margin=1.5)
    assert SpeedOptions(mode="report").fails is False and SpeedOptions().fails is True


def test_compile_warning_only_over_twice_and_for_builds_made_alike():
    slow_compile = compare_speed(timing(BASE, compile_s=2.5), section(BASE, compile_s=1.0), SpeedOptions())
    assert "compile took 2.50 s, 2.5x the baseline's 1.00 s" in slow_compile.warning
    assert slow_compile.verdict == "no change"  # a warning, never a verdict
    assert not compare_speed(timing(BASE, compile_s=1.9), section(BASE), SpeedOptions()).warning
    # An XLA compile is not compared with a build the persistent cache served.
    mixed = compare_speed(timing(BASE, compile_s=5.0), section(BASE, cache="persistent"), SpeedOptions())
    assert not mixed.warning


def test_an_update_keeps_an_unchanged_section():
    stored = section(BASE)
    assert section_to_keep(timing([s * 1.02 for s in BASE]), stored, SpeedOptions())
    assert not section_to_keep(timing([s * 1.5 for s in BASE]), stored, SpeedOptions())
    assert not section_to_keep(timing(BASE), None, SpeedOptions())
