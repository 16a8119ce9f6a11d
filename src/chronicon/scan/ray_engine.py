"""The Ray engine of a scan: Ray Data actor pools run the per-item chain and each model pass; the driver commits."""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import math
import pickle
import re
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chronicon.analyzers.base import Analyzer, AnalyzerContext
from chronicon.config import core_section
from chronicon.errors import ChroniconError, ConfigError
from chronicon.hookspecs import FOLDER_MODULE_PREFIX
from chronicon.scan.items import ItemRunner, WorkItem
from chronicon.scan.summary import ScanSummary
from chronicon.types import ErrorKind

if TYPE_CHECKING:
    import numpy as np

    from chronicon.scan.scanner import Scanner

log = logging.getLogger(__name__)

RAY_MISSING = "`--engine ray` needs Ray, which is not installed: pip install 'chronicon[ray]'"
# null (a Ray of this process's own), "auto" (the cluster of this node), ray://host:port (Ray Client), host:port.
_ADDRESS = re.compile(r"^(auto|local|ray://[^\s:/]+:\d+|[^\s:/]+:\d+)$")
_CPU_DEVICES = ("cpu", "mps")


class RayScanError(ChroniconError):
    """The Ray pipeline failed as a whole (not one file): what was committed stays; the next scan resumes."""


def ray_available() -> bool:
    """Whether the optional `ray` extra is installed (checked without importing it; a blocked import is none)."""
    if "ray" in sys.modules:
        return sys.modules["ray"] is not None
    return importlib.util.find_spec("ray") is not None


def _ship_folder_plugins(spec: RunnerSpec) -> None:
    """Passes of folder plugins imported under a private name (`chronicon_plugins_x`) travel by value: a worker
    could not import them by that name. Plugins installed or on the workers' PYTHONPATH travel by reference."""
    from ray import cloudpickle

    used = {p.cls.__module__.split(".")[0] for p in spec.passes}
    for name, module in list(sys.modules.items()):
        if name.startswith(FOLDER_MODULE_PREFIX) and module is not None and name.split(".")[0] in used:
            cloudpickle.register_pickle_by_value(module)  # type: ignore[no-untyped-call]


def check_address(address: str | None) -> str | None:
    """`scan.ray_address` as Ray takes it; a malformed one raises ConfigError naming what is accepted."""
    if address is None or address == "":
        return None
    if not _ADDRESS.match(address):
        raise ConfigError(
            f"config key 'scan.ray_address' has bad value {address!r}; allowed: null (start a Ray here), auto "
            "(the cluster this node belongs to), ray://HOST:PORT (Ray Client, port 10001) or HOST:PORT (the GCS, 6379)"
        )
    return address


@dataclass(frozen=True)
class PassSpec:
    """One pass as an actor rebuilds it: its class (imported by name there) and its context without the catalog."""

    cls: type[Analyzer]
    context: AnalyzerContext


@dataclass(frozen=True)
class RunnerSpec:
    """Everything an actor needs to build the scan's ItemRunner, picklable: no catalog, no open files."""

    passes: tuple[PassSpec, ...]
    schema_names: frozenset[str]
    hash_mode: str
    retry_errors: bool

    @classmethod
    def of(cls, scanner: Scanner) -> RunnerSpec:
        passes = tuple(PassSpec(type(a), dataclasses.replace(a.context, catalog=None)) for a in scanner.analyzers)
        return cls(passes, frozenset(scanner.schema_names), scanner.hash_mode, scanner.retry_errors)

    def build(self, only: str | None = None) -> ItemRunner:
        """Fresh analyzers (they load their models on first use, once per actor); `only`: that one pass."""
        analyzers = [p.cls(p.context) for p in self.passes if only is None or p.cls.name == only]
        return ItemRunner(
            analyzers, schema_names=set(self.schema_names), hash_mode=self.hash_mode, retry_errors=self.retry_errors
        )


Batch = dict[str, "np.ndarray[Any, Any]"]


def _unpack(batch: Batch) -> list[WorkItem]:
    return [pickle.loads(blob) for blob in batch["work"]]


def _pack(batch: Batch, items: list[WorkItem], last: bool) -> Batch:
    import numpy as np

    if last:  # the prepared model inputs are spent: do not ship them back to the driver
        for w in items:
            w.item.cache.clear()
    blobs = np.empty(len(items), dtype=object)
    blobs[:] = [pickle.dumps(w, protocol=pickle.HIGHEST_PROTOCOL) for w in items]
    return {"seq": batch["seq"], "work": blobs}


class ChainStage:
    """A Ray Data actor: sniff, hash, the per-item passes and the model passes' `prepare` (`ItemRunner._run_chain`)."""

    def __init__(self, spec: RunnerSpec, last: bool) -> None:
        self.runner = spec.build()
        self.last = last

    def __call__(self, batch: Batch) -> Batch:
        items = _unpack(batch)
        per_item, batched = self.runner.per_item, self.runner.batched
        for w in items:
            self.runner._run_chain(w, per_item, batched)
        return _pack(batch, items, self.last)


class ModelStage:
    """A Ray Data actor of one model pass (`ItemRunner._run_batched`), on a GPU where the pass asks for one."""

    def __init__(self, spec: RunnerSpec, name: str, last: bool) -> None:
        self.runner = spec.build(only=name)
        self.last = last

    def __call__(self, batch: Batch) -> Batch:
        items = _unpack(batch)
        self.runner._run_models(self.runner.analyzers, items)
        return _pack(batch, items, self.last)


@dataclass
class StagePlan:
    """How many actors of a stage, and what each asks of the cluster."""

    name: str
    concurrency: tuple[int, int]
    num_cpus: float
    num_gpus: float


class RayEngine:
    """Runs the planned items through Ray Data (`map_batches` actor pools) and commits what streams back."""

    name = "ray"

    def __init__(self, scan_config: Mapping[str, Any]) -> None:
        cfg = core_section("scan", scan_config)
        self.address = check_address(cfg["ray_address"])
        self.concurrency = cfg.int("ray_concurrency")
        gpus = cfg["ray_num_gpus"]
        self.num_gpus: float | None = None if gpus is None else float(gpus)
        self.retries = cfg.int("ray_retries")
        self.workers = cfg.int("workers")
        if not ray_available():
            raise ConfigError(RAY_MISSING)
        self.first_result_seconds: float | None = None  # the engine's fixed cost: start to the first result

    # -- Ray itself --------------------------------------------------------------------------------------
    @contextmanager
    def _ray(self) -> Iterator[Any]:
        """Ray, initialised for this scan (or the one this process already runs); shut down if started here."""
        import ray

        started = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
            if self.address is None:
                kwargs["address"] = "local"  # never attach by surprise to some cluster of this machine
                if self.workers:
                    kwargs["num_cpus"] = self.workers
            else:
                kwargs["address"] = self.address
            try:
                with warnings.catch_warnings():
                    # Ray forks and at once execs its processes: lancedb's warning about forking does not apply.
                    warnings.filterwarnings("ignore", message="lancedb fork support", category=RuntimeWarning)
                    ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = self.address or "a local Ray"
                raise RayScanError(f"could not start or reach Ray ({where}): {exc}") from exc
            started = True
        try:
            yield ray
        finally:
            if started:
                ray.shutdown()

    def _stages(self, ray: Any, scanner: Scanner) -> list[StagePlan]:
        """Fixed-size actor pools that fit the cluster at once: each CPU model pass gets one actor, the decode
        chain the other CPUs, a GPU model pass one actor per GPU share (all capped by `scan.ray_concurrency`).
        Fixed sizes, because an autoscaling chain pool would take every CPU and starve the model pools until it
        is done, and nothing would stream back to the driver before the end."""
        resources = ray.cluster_resources()
        cpus = max(1.0, float(resources.get("CPU", 1.0)))
        gpus = float(resources.get("GPU", 0.0))
        cap = self.concurrency or 1_000_000
        models: list[StagePlan] = []
        for analyzer in scanner.batched:
            wants = self._gpus_for(analyzer, gpus)
            size = min(cap, max(1, int(gpus // wants))) if wants else 1
            models.append(StagePlan(analyzer.name, (size, size), 1.0, wants))
        on_cpu = sum(plan.concurrency[0] for plan in models if not plan.num_gpus)
        chain = min(cap, max(1, int(cpus) - on_cpu))
        plans = [StagePlan("chain", (chain, chain), 1.0, 0.0), *models]
        needed = chain + on_cpu + sum(plan.concurrency[0] for plan in models if plan.num_gpus)
        share = min(1.0, cpus / needed)  # a small cluster: every actor gets its share of the CPUs
        for plan in plans:
            plan.num_cpus = share
        return plans

    def _gpus_for(self, analyzer: Analyzer, cluster_gpus: float) -> float:
        """GPUs per actor of a model pass: `scan.ray_num_gpus`, else 1 where the cluster has GPUs and the pass's
        device allows CUDA (`auto`, `cuda`, `cuda:N`), else 0."""
        if not analyzer.runtime_models():
            return 0.0
        if self.num_gpus is not None:
            return self.num_gpus
        device = str(analyzer.config["device"] or "auto") if "device" in analyzer.config else "auto"
        return 1.0 if cluster_gpus >= 1 and not device.startswith(_CPU_DEVICES) else 0.0

    # -- the scan ----------------------------------------------------------------------------------------
    def process(self, scanner: Scanner, work: list[WorkItem], summary: ScanSummary) -> None:
        started = time.perf_counter()
        with self._ray() as ray:
            from ray.data import ActorPoolStrategy, DataContext

            for start in range(0, len(work), scanner.batch_size):  # as the local engine does, batch by batch
                scanner._load_batch(work[start : start + scanner.batch_size])
            spec = RunnerSpec.of(scanner)
            _ship_folder_plugins(spec)
            plans = self._stages(ray, scanner)
            context = DataContext.get_current()
            saved = (context.max_errored_blocks, context.enable_progress_bars)
            # A block whose actor died more than `ray_retries` times is skipped, not fatal: its items are
            # reported as failures below (never lost silently), and the rest of the scan goes on.
            context.max_errored_blocks = -1
            context.enable_progress_bars = False  # the scan's own progress bar advances as results arrive
            data_log = logging.getLogger("ray.data")
            level = data_log.level
            data_log.setLevel(max(logging.WARNING, level))  # not Ray Data's INFO lines through the scan's bar
            try:
                per_block = scanner._model_chunk(scanner.batched) or min(scanner.batch_size, 32)
                rows = [
                    {"seq": n, "work": pickle.dumps(w, protocol=pickle.HIGHEST_PROTOCOL)} for n, w in enumerate(work)
                ]
                dataset = ray.data.from_items(rows, override_num_blocks=max(1, math.ceil(len(rows) / per_block)))
                del rows
                for index, plan in enumerate(plans):
                    last = index == len(plans) - 1
                    stage: type[ChainStage] | type[ModelStage] = ChainStage if plan.name == "chain" else ModelStage
                    args = (spec, last) if plan.name == "chain" else (spec, plan.name, last)
                    with warnings.catch_warnings():
                        # Ray 2.60 takes the retry counts only as `ray_remote_args` (deprecated for 2.64): without
                        # them an actor task is retried forever, and a file that kills its worker every time
                        # would stall the scan.
                        warnings.simplefilter("ignore", DeprecationWarning)
                        dataset = dataset.map_batches(
                            stage,
                            fn_constructor_args=args,
                            batch_size=None,  # a whole block per call: `_run_batched` cuts it to the model's batch
                            batch_format="numpy",
                            zero_copy_batch=True,
                            compute=ActorPoolStrategy(min_size=plan.concurrency[0], max_size=plan.concurrency[1]),
                            num_cpus=plan.num_cpus,
                            num_gpus=plan.num_gpus,
                            max_restarts=-1,  # a dead worker's actor is restarted...
                            max_task_retries=self.retries,  # ...and its block retried this many times
                        )
                self._drain(dataset, scanner, work, summary, started)
                layout = ", ".join(f"{p.name} ×{p.concurrency[0]}" + (f" ({p.num_gpus:g} GPU)" if p.num_gpus else "")
                                   for p in plans)  # fmt: skip
                first = f"{self.first_result_seconds:.1f}s" if self.first_result_seconds is not None else "-"
                summary.notes.append(f"ray engine: actors {layout}; first result after {first}")
            finally:
                context.max_errored_blocks, context.enable_progress_bars = saved
                data_log.setLevel(level)

    def _drain(self, dataset: Any, scanner: Scanner, work: list[WorkItem], summary: ScanSummary, t0: float) -> None:
        """Commit results in atomic batches as they stream back; report the items no worker returned."""
        pending = set(range(len(work)))
        ready: list[WorkItem] = []
        try:
            for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                if self.first_result_seconds is None:
                    self.first_result_seconds = time.perf_counter() - t0
                for seq, blob in zip(batch["seq"], batch["work"], strict=True):
                    if int(seq) not in pending:
                        continue  # a retried block delivered twice: committed once
                    pending.discard(int(seq))
                    w: WorkItem = pickle.loads(blob)
                    self._collect_notes(scanner, w)
                    ready.append(w)
                    scanner.progress.advance(1)
                    if len(ready) >= scanner.batch_size:
                        scanner._commit(ready, summary)
                        ready = []
        except Exception as exc:
            if ready:
                scanner._commit(ready, summary)
            raise RayScanError(
                f"the Ray pipeline failed ({type(exc).__name__}: {exc}); {len(work) - len(pending)} files are "
                "committed, run the same scan again to resume"
            ) from exc
        if ready:
            scanner._commit(ready, summary)
        lost = [work[n] for n in sorted(pending)]
        for w in lost:  # their worker died on them every time it was retried
            w.fail("ray", f"its Ray worker died {self.retries + 1} times on it", ErrorKind.IO)
        for start in range(0, len(lost), scanner.batch_size):
            scanner._commit(lost[start : start + scanner.batch_size], summary)
        if lost:
            summary.notes.append(f"{len(lost)} files were lost with their Ray worker; the next scan retries them")

    @staticmethod
    def _collect_notes(scanner: Scanner, w: WorkItem) -> None:
        """What the workers learnt about the passes (a model that could not load, a missing part), for the notes."""
        by_name = {a.name: a for a in scanner.analyzers}
        for name, record in w.phases.items():
            if record.get("fingerprint") == "unavailable":
                scanner.late_unavailable.setdefault(name, str(record.get("error")))
            degraded = record.get("degraded")
            if degraded and name in by_name:
                by_name[name].degrade(str(degraded))
