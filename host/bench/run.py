"""``host bench`` and ``--resume`` as one library call.

Data flow (design.md): validate; convert every mode (cache); choose the devices (the named
ones, the only one attached, or an emulated one started for this run); run each device's cells
(several devices at once, a farm); store each cell as it finishes; finish the run. The run's row
is written only when its first cell is stored (``sink.StoreSink``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import reduce
from pathlib import Path

from host.bench.cells import BenchListener
from host.bench.config import BenchConfig
from host.bench.inputs import PreparedInputs, prepare_inputs, resolve_bench_inputs
from host.bench.plan import RunPlan, new_plan, now, resume_plan
from host.bench.sink import StoreSink, on_interrupt, resume_command
from host.bench.targets import Target, agent_settings, bench_devices, device_runner, find_targets
from host.cache import prune_host
from host.errors import StoreUnavailable
from host.results import RunRecord, RunStats
from host.store import ResultsStore, StoreLocation


def run_bench(
    config: BenchConfig, db_path: StoreLocation | Path, listener: BenchListener, resume: str | None = None
) -> RunRecord:
    store = ResultsStore(db_path)
    store.on_retry = listener.stage
    try:
        plan = resume_plan(store.load_run(resume), config) if resume else new_plan(config)
        plan.config.validate()
        given = resolve_bench_inputs(plan.config)  # the model and the images' listing, before any device starts
        with bench_devices(plan.config.devices, listener.stage) as devices:
            targets = find_targets(devices, agent_settings(plan.config.devices))  # before any conversion
            inputs = prepare_inputs(plan.config, listener, given)
            plan.check_inputs(inputs)
            sink = StoreSink(store, plan, inputs)
            with on_interrupt(
                lambda: (
                    f"finished cells of run {plan.run_id} are stored in {store.where}: finish it with "
                    f"'{resume_command(plan.run_id, db_path)}'"
                    if sink.created
                    else None
                )
            ):
                try:
                    stats = inputs.conversion_stats().plus(measure(plan, inputs, sink, listener, targets))
                except StoreUnavailable as e:
                    raise StoreUnavailable(
                        f"{e}: the cells stored before it are kept; once the database is back, finish "
                        f"the run with '{resume_command(plan.run_id, db_path)}'"
                        if sink.created
                        else f"{e}: nothing was stored"
                    ) from None
        sink.ensure_run()
        store.finish_run(plan.run_id, now(), inputs.notes, stats)
        pruned = prune_host(plan.config.caches.cache_max_mb, plan.config.caches.cache_max_days)
        if pruned.removed_entries:
            listener.stage(pruned.describe("caches on this machine"))
        return store.load_run(plan.run_id)
    finally:
        store.close()


def measure(
    plan: RunPlan, inputs: PreparedInputs, sink: StoreSink, listener: BenchListener, targets: list[Target]
) -> RunStats:
    """Every device's cells; several devices run at the same time (a farm)."""
    stored = (lambda: sink.store.load_run(plan.run_id)) if plan.previous is not None else None
    runners = [device_runner(t, plan, inputs, sink, listener, stored) for t in targets]
    total = sum(len(plan.units(r.order())) for r in runners)
    listener.matrix(total, total - sum(len(plan.todo(r.parts.identity, r.order())) for r in runners))
    if len(runners) == 1:
        return runners[0].run()
    with ThreadPoolExecutor(max_workers=len(runners), thread_name_prefix="device") as pool:
        futures = [pool.submit(r.run) for r in runners]
        return reduce(RunStats.plus, (f.result() for f in futures), RunStats())
