"""Latency predicted from a per-device table of measured units, without building the network.

A network's latency is the sum of its units' latencies, where a unit is one op of the IR or a
chain that inference runtimes fuse (:mod:`nasblocks._latency_units`). A unit is measured once
per device and setting and cached on disk::

    ~/.cache/nasblocks/latency/cpu-amd-epyc-7763-64-core-processor-torch2.14.1-cu130.json
    {"device": {...}, "entries": {
        "conv(out=96,kernel=1x1)+bn+relu6@16x112x112|b1|fp32|contiguous|t1":
            {"median_ms": 1.41, "p10_ms": 1.38, "min_ms": 1.35, ...}, ...}}

(``NASBLOCKS_CACHE`` moves ``~/.cache/nasblocks``.) Predicting a candidate is then a key and a
dictionary lookup per unit — milliseconds of Python — and units missing from the table are
measured on demand and added to it.

Missing units are timed where they run: inside the compiled network, which is run with a probe
after each layer (:func:`measure_in_network`, :mod:`nasblocks._latency_probe`), so each unit
finds the caches, the allocator and the dispatcher as the layers before it leave them. A unit
measured in one network is looked up for every other network that has it, and each later run of
a network that has it adds a run to its entry (the median of the latest runs is kept); a network
also runs while one of its entries holds fewer than 3 runs, so that a unit first timed at a busy
moment is corrected. The network's own overhead (its call, outside every layer) is the
``(call)`` entry. On CUDA each entry holds the GPU's time of the unit and the host's time to
issue it, timed apart. :func:`combine` adds them up:

    CPU:   predicted = call + Σ unit
    CUDA:  predicted = max(Σ gpu, call + Σ host)

How close this comes to the measured network is measured, not assumed:
``benchmarks/latency_predictor.py`` and benchmarks/RESULTS.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import math
import os
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from nasblocks._graph import Graph
from nasblocks._latency import (Measurement, Setting, device_key, device_name, out_of_memory_as_error, setting,
                                summarise)
from nasblocks._latency_probe import time_layers
from nasblocks._latency_units import entry_keys, setting_key, unit_inputs, units
from nasblocks._output import replacing
from nasblocks.errors import LatencyError

# 2: CUDA entries hold the host's time apart from the GPU's; 3: CPU units timed in the network;
# 4: a CPU unit's figures are its shares of the forward with that figure, pooled over runs;
# 5: CUDA units timed in the network too, their host time without a call of their own;
# 6: CUDA readings charged what they cost inside the network, the call charged a reading;
# 7: CPU readings too
FORMAT = 7
STATS = ("median", "p10", "min")
FIGURES = tuple(f"{stat}_ms" for stat in STATS)  # what an entry must hold, one per statistic
# How units are timed for the table (forwards of the whole network): briefly, since a search
# prices thousands of candidates.
UNIT_TIMING = {"warmup": 3, "repeats": 21}
# A unit's figures in the table: the median of its latest runs' (LatencyTable.put)
RUN_FIGURES = ("median_ms", "p10_ms", "min_ms", "p90_ms")
RUNS_KEPT = 9
# An entry timed in fewer runs is timed again by the next network that has it, once its latest
# run is 10 s old: its figure then comes from several moments of the machine, not one. (Settled
# this way, ResNet-18 depth variants whose stage-4 units came from one run went from +8–12 % to
# −6…+5 %: benchmarks/RESULTS.md.)
SETTLED_RUNS = 3
SETTLE_AFTER_S = 10.0
MEASURED_FORMAT = "%Y-%m-%dT%H:%M:%S"  # an entry's latest run, local time
CALL = "(call)"


# --- the table on disk ----------------------------------------------------------------------------

def cache_dir() -> Path:
    """``$NASBLOCKS_CACHE/latency``, by default ``~/.cache/nasblocks/latency``."""
    root = os.environ.get("NASBLOCKS_CACHE") or Path.home() / ".cache" / "nasblocks"
    return Path(root).expanduser() / "latency"


def table_path(device: str) -> Path:
    return cache_dir() / f"{device_key(device)}.json"


@dataclass
class LatencyTable:
    """The measured units of one device, as stored in ``path`` (a JSON file).

    Several processes may fill the same table (a search with workers): :meth:`save` merges what
    is on disk with what this process measured and replaces the file atomically, one process at
    a time (a lock on its folder), so no entry, nor any run of one, is lost and no reader sees
    half a file.
    """

    path: Path
    device: dict[str, str]
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    _mtime: float = 0.0
    _unsaved: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # runs put since the last save

    @classmethod
    def open(cls, device: str = "cpu", path: Path | None = None) -> LatencyTable:
        """The table of ``device`` (from the cache directory unless ``path`` is given)."""
        path = Path(path) if path is not None else table_path(device)
        info = {"key": device_key(device), "name": device_name(device),
                "type": device.split(":")[0], "torch": torch.__version__}
        table = cls(path, info)
        table.reload()
        return table

    def reload(self) -> None:
        """Read the entries on disk (those of other processes too) into this table."""
        if not self.path.exists():
            return
        self.entries.update(self._read())
        self._mtime = self.path.stat().st_mtime

    def _read(self) -> dict[str, dict[str, Any]]:
        with self._failing("read"):  # another user's table in a shared cache: not to be deleted
            raw = self.path.read_bytes()
        try:
            data = json.loads(raw)
        except ValueError as err:
            raise LatencyError(f"{self.path}: not a readable latency table ({err}); delete it and "
                               f"it is measured again") from None
        written = data.get("format") if isinstance(data, dict) else None
        if isinstance(written, int) and written < FORMAT:
            return {}  # figures of an older method: measured again, and the file replaced on save
        if isinstance(written, int) and written > FORMAT:  # deleting it would lose the newer one's work
            raise LatencyError(f"{self.path}: a latency table of format {written}, written by a newer "
                               f"nasblocks (this one reads format {FORMAT}); upgrade nasblocks, or set "
                               f"NASBLOCKS_CACHE to another folder")
        if (not isinstance(data, dict) or data.get("format") != FORMAT
                or not isinstance(data.get("device"), dict) or not isinstance(data.get("entries"), dict)):
            raise LatencyError(f"{self.path}: not a nasblocks latency table of format {FORMAT}; "
                               f"delete it and it is measured again")
        if data["device"].get("key") != self.device["key"]:
            raise LatencyError(f"{self.path}: holds the table of {data['device'].get('key')!r}, "
                               f"not of this device ({self.device['key']!r})")
        for name, entry in data["entries"].items():
            if not _is_entry(entry):
                raise LatencyError(f"{self.path}: entry {name!r} is not an object of figures in ms "
                                   f"({', '.join(FIGURES)}, and its runs with the time of the latest); "
                                   f"delete the file and it is measured again")
        return data["entries"]

    def changed_on_disk(self) -> bool:
        return self.path.exists() and self.path.stat().st_mtime != self._mtime

    def get(self, key: str) -> dict[str, Any] | None:
        return self.entries.get(key)

    def put(self, key: str, measurement: Measurement, host: Measurement | None = None) -> None:
        """Add a run of ``key``'s unit (on CUDA, ``host`` is the host's side: its ``host_*``
        figures). Each figure is the median of its latest :data:`RUNS_KEPT` runs' (a unit is
        timed again whenever a network that has it runs for a missing unit), so that one run at
        a busy moment does not set a unit's figure for good. The run is also kept apart until
        :meth:`save`, which adds it to the entry as another process may have saved it meanwhile."""
        figures = {name: getattr(measurement, name) for name in RUN_FIGURES}
        if host is not None:
            figures |= {f"host_{name}": getattr(host, name) for name in RUN_FIGURES}
        run = {"figures": figures, "repeats": measurement.repeats, "calls_per_repeat": measurement.calls_per_repeat,
               "measured": time.strftime(MEASURED_FORMAT)}
        self._unsaved.setdefault(key, []).append(run)
        self.entries[key] = _with_run(self.entries.get(key), run)

    def check_writable(self) -> None:
        """Fail now, before units are timed, where the table could not be saved (a cache folder
        that is not the user's, or under a file)."""
        with self._failing("write"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.path.parent):  # what saving makes there
                pass

    def writable(self) -> bool:
        """Whether the table can be saved (:meth:`check_writable` without the error)."""
        try:
            self.check_writable()
        except LatencyError:
            return False
        return True

    def save(self) -> None:
        """Merge the entries on disk with this table's and replace the file, holding a lock on
        its folder (readable by every user of a shared cache, unlike a lock file of one user's)
        so that two processes saving at once do not each write what the other lacks."""
        with self._failing("write"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            folder = os.open(self.path.parent, os.O_RDONLY)
            try:
                fcntl.flock(folder, fcntl.LOCK_EX)  # released when the folder is closed
                self._merge_and_replace()
            finally:
                os.close(folder)

    @contextlib.contextmanager
    def _failing(self, doing: str) -> Iterator[None]:
        """An OSError inside, as one line naming the table and the way out."""
        try:
            yield
        except OSError as err:
            # mkdir says "File exists" of a file where a folder must be
            under_file = next((f"{folder} is a file, not a folder" for folder in self.path.parents
                               if folder.exists() and not folder.is_dir()), None)
            raise LatencyError(f"cannot {doing} the latency table {self.path} ({under_file or err.strerror or err}); "
                               f"set NASBLOCKS_CACHE to a folder you can write") from None

    def _merge_and_replace(self) -> None:
        """The entries on disk, which another process may have saved since this one read them,
        each with the runs this process has added since it last saved; then this process's
        other entries (the file deleted meanwhile, or of an older format)."""
        on_disk = self._read() if self.path.exists() else {}
        merged = {**self.entries, **on_disk}
        for key in self._unsaved.keys() & on_disk.keys():  # the others hold this process's runs already
            for run in self._unsaved[key]:
                merged[key] = _with_run(merged[key], run)
        self.entries = merged
        text = json.dumps({"format": FORMAT, "device": self.device, "entries": merged}, indent=1,
                          sort_keys=True)
        with replacing(self.path) as staged:  # whole, and readable by a shared cache's users
            staged.write_text(text, encoding="utf-8")
        self._mtime = self.path.stat().st_mtime
        self._unsaved.clear()


def _with_run(entry: dict[str, Any] | None, run: dict[str, Any]) -> dict[str, Any]:
    """``entry`` (None for a new one) with one more run (:meth:`LatencyTable.put`): each figure
    the median of its latest :data:`RUNS_KEPT` runs'."""
    figures = run["figures"]
    runs = [*(entry or {}).get("runs", []), figures][-RUNS_KEPT:]
    return {**{name: statistics.median(one[name] for one in runs) for name in figures},
            "repeats": run["repeats"], "calls_per_repeat": run["calls_per_repeat"], "measured": run["measured"],
            "runs": runs}


def _is_entry(entry: Any) -> bool:
    """Whether a table entry holds what a prediction reads: its figures, and where it keeps its
    runs (:meth:`LatencyTable.put`), those runs' figures and when the latest was."""
    if not _has_figures(entry, FIGURES):
        return False
    if "runs" not in entry:
        return True  # figures put there by hand, taken as they are
    runs = entry["runs"]
    return (isinstance(runs, list) and all(_has_figures(run, RUN_FIGURES) for run in runs)
            and _measured_at(entry) is not None)


def _has_figures(figures: Any, names: Sequence[str]) -> bool:
    """Whether ``figures`` is an object of numbers (``*_ms``) that holds ``names`` (and the
    host's figures of them where it has a host's side, on CUDA)."""
    if not isinstance(figures, dict):
        return False
    host = [f"host_{name}" for name in names] if any(key.startswith("host_") for key in figures) else []
    return all(name in figures for name in [*names, *host]) and all(
        isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < math.inf
        for name, value in figures.items() if name.endswith("_ms"))  # json reads NaN and Infinity too


def _measured_at(entry: dict[str, Any]) -> float | None:
    """When an entry's latest run was, in seconds since the epoch; None where it does not say."""
    measured = entry.get("measured")
    if not isinstance(measured, str):
        return None
    try:
        return time.mktime(time.strptime(measured, MEASURED_FORMAT))
    except ValueError:
        return None


_OPEN: dict[Path, LatencyTable] = {}


def table_for(device: str, path: Path | None = None) -> LatencyTable:
    """The table of ``device``, read from disk once per process (and again when another
    process has changed it and an entry is missing here)."""
    resolved = Path(path) if path is not None else table_path(device)
    if resolved not in _OPEN:
        _OPEN[resolved] = LatencyTable.open(device, resolved)
    return _OPEN[resolved]


# --- prediction -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class UnitLatency:
    """One unit's share of a prediction: its time in the network (on CUDA the GPU's, and
    ``host_ms`` the host's time to issue it)."""

    key: str
    scope: str          # the first node's scope: features.3.conv.1
    ms: float
    host_ms: float | None = None


@dataclass(frozen=True)
class Prediction:
    """A network's predicted latency, with the units it sums and what was measured for it:
    ``measured_now`` entries the table lacked, and ``ran`` whether the network was run for them
    (or to give unsettled entries another run).

    On CUDA ``gpu_ms`` and ``host_ms`` are the two sums and ``latency_ms`` the larger.
    """

    latency_ms: float
    call_ms: float
    units: tuple[UnitLatency, ...]
    measured_now: int
    table: Path
    stat: str
    setting: Setting
    gpu_ms: float | None = None
    host_ms: float | None = None
    ran: bool = False

    def to_dict(self) -> dict[str, Any]:
        sides = {"gpu_ms": self.gpu_ms, "host_ms": self.host_ms} if self.gpu_ms is not None else {}
        return {"latency_ms": self.latency_ms, "call_ms": self.call_ms, "units": len(self.units),
                "measured_now": self.measured_now, "ran": self.ran, "table": str(self.table),
                "stat": self.stat, **sides, "setting": dataclasses.asdict(self.setting)}


def combine(call: dict[str, Any], shares: Sequence[tuple[str, str, dict[str, Any]]], stat: str = "median"
            ) -> tuple[float, float, list[UnitLatency], float | None, float | None]:
    """A network's latency from its units' table entries ``(key, scope, entry)``: the latency,
    the call overhead, the units' shares and, for entries timed on CUDA, the GPU's and the
    host's sums.

    On CPU a forward runs its units one after the other: ``call + Σ unit``.
    On CUDA the host issues the units and the GPU runs them, each as fast as it can, with a
    queue between: over repeated forwards the slower side sets the pace, so the latency is
    ``max(Σ gpu, call + Σ host)`` — the GPU-bound layers of a network hide the host time of its
    host-bound ones. (Summing each unit's back-to-back time, max(host, gpu) per unit,
    over-predicted GoogLeNet by 41 % at batch 64 on an H100: benchmarks/RESULTS.md.)
    """
    figure = f"{stat}_ms"
    if f"host_{figure}" not in call:
        units_ = [UnitLatency(key, scope, entry[figure]) for key, scope, entry in shares]
        return call[figure] + sum(u.ms for u in units_), call[figure], units_, None, None
    units_ = [UnitLatency(key, scope, entry[figure], entry[f"host_{figure}"]) for key, scope, entry in shares]
    gpu = call[figure] + sum(u.ms for u in units_)
    host = call[f"host_{figure}"] + sum(u.host_ms for u in units_)  # type: ignore[misc]
    return max(gpu, host), call[f"host_{figure}"], units_, gpu, host


def measure_in_network(graph: Graph, run: Setting, *, warmup: int, repeats: int
                       ) -> dict[str, tuple[Measurement, Measurement | None]]:
    """Every unit of ``graph`` timed inside the compiled network (:mod:`nasblocks._latency_probe`),
    keyed as in the table, the ``(call)`` entry among them (the network's time outside every
    layer): each key's time per forward and, on CUDA, where that time is the GPU's, the host's
    time to issue it.

    A unit's time in a forward is the sum of its layers'; a key that several units of the network
    share (repeated blocks) takes their mean in each forward. Each figure is the unit's share of
    the forward that has that figure (``summarise``'s ranks): the units' minima are their times
    in the fastest forward, so that they add up to it (on CUDA, the GPU's side and the host's are
    ranked each by its own forward's time).
    """
    timed = time_layers(graph, run, warmup=warmup, repeats=repeats)
    groups = units(graph)
    keys = entry_keys(graph, groups, run)
    call_key = CALL + setting_key(run)
    shapes = {key: [graph.shape_of(name) for name in unit_inputs(group)] for key, group in zip(keys, groups)}
    shapes[call_key] = [graph.input_shape]

    def side(layers: dict[str, list[float]], outside: list[float], totals: list[float] | None = None
             ) -> dict[str, Measurement]:
        """Each key's figures from one side's layer times, ranked by ``totals`` (each forward's
        time; by default the sum of its units')."""
        instances: dict[str, list[list[float]]] = {call_key: [outside]}
        for key, group in zip(keys, groups):
            forwards = zip(*(layers[node.name] for node in group))
            instances.setdefault(key, []).append([max(sum(parts), 0.0) for parts in forwards])
        every = [one for series in instances.values() for one in series]
        ranks = totals if totals is not None else [sum(times) for times in zip(*every)]
        return {key: summarise([statistics.fmean(times) for times in zip(*series)], 1, run, shapes[key],
                               ranks=ranks)
                for key, series in instances.items()}

    host = side(timed.host, timed.overhead, timed.totals)
    if timed.gpu is None:
        return {key: (measurement, None) for key, measurement in host.items()}
    gpu = side(timed.gpu, [0.0] * len(timed.overhead))  # the call runs no kernel
    return {key: (gpu[key], host[key]) for key in host}


def _lookup(table: LatencyTable, key: str) -> dict[str, Any] | None:
    entry = table.get(key)
    if entry is None and table.changed_on_disk():
        table.reload()
        entry = table.get(key)
    return entry


def predict_detail(graph: Graph, device: str = "cpu", *, batch: int = 1, threads: int | None = None,
                   dtype: str = "fp32", channels_last: bool = False, clock: str = "wall",
                   stat: str = "median",
                   measure_missing: bool = True, table: LatencyTable | None = None) -> Prediction:
    """The predicted latency (ms per forward of ``batch`` images) of the compiled ``graph``,
    from ``device``'s table; units missing from it, or timed in fewer than :data:`SETTLED_RUNS`
    runs, are measured now and saved (unless ``measure_missing`` is false: then a missing unit
    is a :class:`LatencyError`, and entries are taken as they are; so too, where this user cannot
    write the table, entries of few runs).

    ``stat`` picks which figure of each entry is summed: median (the default, what
    :func:`~nasblocks._latency.measure` reports first), p10 or min (robust on a busy machine).
    """
    if stat not in STATS:
        raise LatencyError(f"stat: expected one of {', '.join(STATS)}, got {stat!r}")
    run = setting(device, batch=batch, threads=threads, dtype=dtype, channels_last=channels_last,
                  clock=clock)
    table = table if table is not None else table_for(run.device)
    groups = units(graph)
    keys = entry_keys(graph, groups, run)
    call_key = CALL + setting_key(run)
    entries = {key: _lookup(table, key) for key in dict.fromkeys([call_key, *keys])}
    missing = [key for key, entry in entries.items() if entry is None]
    if missing and not measure_missing:
        raise LatencyError(f"no entry {missing[0]!r} in {table.path}; run `nasblocks latency "
                           f"profile` or allow measuring missing units")
    # Settling improves entries that are there, so a table this user may read but not write (a
    # shared cache) is taken as it is; a missing unit must be timed, and its table kept.
    ran = bool(missing) or (measure_missing and any(map(_unsettled, filter(None, entries.values())))
                            and table.writable())
    if ran:  # one run of the network times its units, each gaining a run
        if missing:  # settling has found the table writable already
            table.check_writable()
        try:
            with out_of_memory_as_error(run):
                timed = measure_in_network(graph, run, **UNIT_TIMING)
            for key, (measurement, host) in timed.items():
                table.put(key, measurement, host)
        finally:  # what was measured is kept, even when interrupted
            table.save()
    shares = [(key, group[0].scope, table.get(key)) for key, group in zip(keys, groups)]
    total, call_ms, unit_shares, gpu, host = combine(table.get(call_key), shares, stat)  # type: ignore[arg-type]
    return Prediction(total, call_ms, tuple(unit_shares), len(missing), table.path, stat, run, gpu, host, ran)


def _unsettled(entry: dict[str, Any]) -> bool:
    """Whether an entry holds fewer than :data:`SETTLED_RUNS` runs, the latest
    :data:`SETTLE_AFTER_S` old (an entry of figures put there by hand, without runs, is taken as
    it is)."""
    runs = len(entry.get("runs", ()))
    if runs == 0 or runs >= SETTLED_RUNS:
        return False
    measured = _measured_at(entry)
    return measured is not None and time.time() - measured >= SETTLE_AFTER_S


def predict(graph: Graph, device: str = "cpu", **options: Any) -> float:
    """Predicted latency in ms of the compiled ``graph`` (see :func:`predict_detail`)."""
    return predict_detail(graph, device, **options).latency_ms
