"""Speed-only cases: any JAX function timed by ``myriad_benchmark``, then ``baseline.check_speed()``.

Code that is not a myriad-bench run (a user's own PureJaxRL ``train``) gets a speed baseline of
its own: ``baselines/<case>/baseline.yaml`` of kind ``speed``, one speed section per platform
and no runs. The verdict is the one runs get (:mod:`~myriad_bench.harness.speed`): ``slower``
fails under ``--myriad-speed=check``; another platform is ``not comparable``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from myriad_bench.harness import messages
from myriad_bench.harness.baseline_store import BASELINE_FILE, Baseline, BaselineError
from myriad_bench.harness.check import Writer, speed_section
from myriad_bench.harness.differences import fingerprint_differences
from myriad_bench.harness.records import CaseRecord, SpeedRecord, Timing
from myriad_bench.harness.speed import SpeedOptions, compare_speed

__all__ = ["check_speed"]


def check_speed(
    case: str,
    timing: Timing,
    baseline: Baseline | None,
    *,
    fingerprint: Mapping | None,
    speed: SpeedOptions,
    baseline_path: Path,
    update_command: str = "",
    nodeid: str = "",
    writer: Writer | None = None,
) -> CaseRecord:
    """The speed record of a timed function against its speed-only baseline (or, updating, into it)."""
    record = CaseRecord(case, "passed", nodeid=nodeid, kind="speed")
    if speed.mode == "off":
        return replace(record, message="speed checks are off (--myriad-speed=off)")
    if writer is not None:
        return _write(record, timing, writer, fingerprint, speed)
    if baseline is None:
        missing = compare_speed(timing, None, speed, not_comparable="there is no baseline yet")
        message = messages.missing_baseline(case, baseline_path / BASELINE_FILE, update_command)
        return replace(record, status="missing", message=message, speed=missing)
    if baseline.kind != "speed":
        message = messages.kind_differs(case, baseline_path, baseline.kind, "speed", update_command)
        return replace(record, status="failed", message=message)
    platform = baseline.for_platform(fingerprint)
    why = ""
    differences = []
    if platform is None:
        closest, _ = baseline.closest(fingerprint)
        differences = fingerprint_differences(closest.fingerprint, fingerprint)
        shown = "; ".join(f"{d.field}: {d.baseline!r} → {d.current!r}" for d in differences[:3])
        why = "the baseline holds no speed of this platform" + (f" ({shown})" if shown else "")
    result = compare_speed(timing, platform.speed if platform else None, speed, not_comparable=why)
    assert result is not None  # mode is not off and the timing has a rate
    record = replace(
        record, speed=result, fingerprint_differences=differences, baseline_created=baseline.meta.created
    )
    if result.verdict == "slower" and speed.fails:
        message = messages.speed_failed(case, result, str(baseline_path), update_command)
        return replace(record, status="failed", message=message)
    lines = [messages.speed_text(result)] + ([f"warning: {result.warning}"] if result.warning else [])
    return replace(record, message="\n".join(lines))


def _write(
    record: CaseRecord, timing: Timing, writer: Writer, fingerprint: Mapping | None, speed: SpeedOptions
) -> CaseRecord:
    store, case = writer.store, record.case
    owner = store.claim(case, writer.run_id, writer.owner)
    if owner is not None:
        return replace(record, status="failed", message=messages.claimed(case, owner))
    stored = store.stored_speed(case, fingerprint, kind="speed")
    section = speed_section(timing, stored, speed)
    assert section is not None  # mode is not off and the timing has a rate
    try:
        outcome = store.write_speed(case, fingerprint=fingerprint, speed=section)
    except BaselineError as error:
        return replace(record, status="failed", message=f"baseline not written for case '{case}': {error}")
    written = SpeedRecord(
        "kept" if section is stored else "written",
        section.env_steps_per_s,
        rounds=section.rounds,
        spread=section.spread,
        compile_s=section.compile_s,
        compile_cache=section.compile_cache,
    )
    return replace(record, status="written", message=outcome.message, path=str(outcome.path), speed=written)
