"""Accelerators that failed a profiled run in this agent, remembered so each is tried once.

A profiled compile costs a second compile per cell; LiteRT 2.3's WebGPU accelerator fails every
profiled run, so trying it again on each of a run's GPU cells only adds time. The first cell's
reason goes on the later cells of that backend instead, saying it was not tried again.
"""

from __future__ import annotations

from dataclasses import replace

from device_agent.contract import CellRequest, CellResult, OpProfile

REFUSED = "fails runs with profiling on"


class Refusals:
    """Backends whose accelerator failed a profiled run in this agent: they are not compiled with
    the profiler again (each try costs a compile), and their later cells carry the first reason."""

    def __init__(self) -> None:
        self._notes: dict[str, str] = {}

    def request(self, job: CellRequest) -> CellRequest:
        return replace(job, op_profile=False) if job.op_profile and job.backend in self._notes else job

    def result(self, asked: CellRequest, result: CellResult) -> CellResult:
        if asked.op_profile and asked.backend in self._notes and result.ok and result.op_profile is None:
            return replace(result, op_profile=OpProfile(note=self._notes[asked.backend]))
        if result.op_profile is not None and REFUSED in result.op_profile.note:
            self._notes[asked.backend] = result.op_profile.note + "; found on an earlier cell, not tried again"
        return result
