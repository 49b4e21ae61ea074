"""`nasblocks latency` pushed the way a demanding user pushes it: tables damaged by hand, a cache
folder under a file, two real processes filling one table at once, settings the machine cannot
honour."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import TINY
from test_cli_latency import run

from nasblocks import _latency_table as lt
from nasblocks._latency import device_key, setting
from nasblocks.errors import LatencyError


FIGURES = {"median_ms": 1.0, "p10_ms": 1.0, "min_ms": 1.0}


@pytest.mark.parametrize("figure", [float("nan"), float("inf"), -1.0])
def test_a_figure_that_is_no_time_is_a_damaged_table(figure: float, cache: Path) -> None:
    path = lt.table_path("cpu")
    path.parent.mkdir(parents=True)
    entries = {"a": FIGURES | {"median_ms": figure}}  # json writes NaN and Infinity, and reads them back
    path.write_text(json.dumps({"format": lt.FORMAT, "device": {"key": device_key("cpu")}, "entries": entries}))
    with pytest.raises(LatencyError, match=r"entry 'a' is not an object of figures in ms .*; delete the file"):
        lt.LatencyTable.open("cpu")


def test_a_cache_folder_whose_latency_folder_is_a_file_says_so(monkeypatch, capsys, tiny_path: Path,
                                                                tmp_path: Path) -> None:
    (tmp_path / "c" / "latency").parent.mkdir()
    (tmp_path / "c" / "latency").write_text("")
    monkeypatch.setenv("NASBLOCKS_CACHE", str(tmp_path / "c"))
    _, err = run(monkeypatch, capsys, str(tiny_path), "--threads", "1", "--predict", code=2)
    assert err == (f"error: cannot write the latency table {lt.table_path('cpu')} ({tmp_path / 'c' / 'latency'} "
                   f"is a file, not a folder); set NASBLOCKS_CACHE to a folder you can write\n")  # not "File exists"


# Each process times every unit of its network, then waits until the other has too before it
# saves: both save runs of the units they share, at the same moment.
FILL = """
import sys, time
from pathlib import Path
import nasblocks
from nasblocks import _latency_table as lt

lt.UNIT_TIMING = {"warmup": 1, "repeats": 2}
measure_in_network, ready = lt.measure_in_network, Path(sys.argv[2])

def measure_then_wait(*args, **kwargs):
    timed = measure_in_network(*args, **kwargs)
    (ready / sys.argv[3]).touch()
    deadline = time.monotonic() + 60
    while len(list(ready.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    return timed

lt.measure_in_network = measure_then_wait
lt.predict(nasblocks.expand(nasblocks.load(sys.argv[1])), "cpu", threads=1)
"""


def test_two_processes_filling_one_table_at_once_keep_every_entry_and_every_run(tmp_path: Path, cache: Path) -> None:
    specs = []
    for out in (4, 5):  # the same network but for its last layer
        specs.append(tmp_path / f"tiny{out}.yaml")
        specs[-1].write_text(TINY.replace("linear: {out: 4}", f"linear: {{out: {out}}}"))
    ready = tmp_path / "ready"
    ready.mkdir()
    env = {**os.environ, "NASBLOCKS_CACHE": str(cache)}
    processes = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(FILL), str(spec), str(ready), spec.stem],
                                  env=env, stderr=subprocess.PIPE, text=True) for spec in specs]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    entries = json.loads(lt.table_path("cpu").read_text())["entries"]
    runs = sorted(len(entry["runs"]) for entry in entries.values())
    assert runs == [1, 1] + [2] * 8  # each linear once; the call and the 7 units they share, by both


def test_threads_beyond_the_cores_are_one_line(monkeypatch, capsys, tiny_path: Path) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    with pytest.raises(LatencyError, match=r"^--threads 3: this process may run on 2 CPU cores; give at most 2$"):
        setting("cpu", threads=3)
    assert setting("cpu", threads=2).threads == 2
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)  # OMP_NUM_THREADS=8: the environment's, taken
    assert setting("cpu").threads == 8
    _, err = run(monkeypatch, capsys, str(tiny_path), "--threads", "64", "--predict", code=2)
    assert err == "error: --threads 64: this process may run on 2 CPU cores; give at most 2\n"
    assert not lt.table_path("cpu").exists()


def test_bf16_on_a_gpu_without_it_is_one_line(monkeypatch, capsys, gpu, tiny_path: Path) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    _, err = run(monkeypatch, capsys, str(tiny_path), "--device", "cuda", "--dtype", "bf16", code=2)
    assert err == "error: --dtype bf16: Fake GPU has no bfloat16; use --dtype fp16\n"  # not autocast's traceback
    _, err = run(monkeypatch, capsys, "profile", str(tiny_path), "--device", "cuda", "--dtype", "bf16", "--json",
                 code=2)
    assert err == "error: --dtype bf16: Fake GPU has no bfloat16; use --dtype fp16\n"


def test_json_of_every_mode_is_strict_json(monkeypatch, capsys, tiny_path: Path) -> None:
    quick = ["--threads", "1", "--warmup", "1", "--repeats", "1"]

    def strict(text: str) -> dict:
        return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))

    measured = strict(run(monkeypatch, capsys, str(tiny_path), *quick, "--channels-last", "--json")[0])
    assert measured["measured"]["memory_format"] == "channels_last"  # its linear is 2-D, run as it is
    predicted = strict(run(monkeypatch, capsys, str(tiny_path), *quick, "--predict", "--json")[0])
    profiled = strict(run(monkeypatch, capsys, "profile", str(tiny_path), "--threads", "1", "--json")[0])
    assert predicted["predicted"]["units"] == profiled["networks"][0]["units"] == 8


def test_a_save_after_the_table_file_was_deleted_keeps_this_process_s_runs(cache: Path) -> None:
    """Only entries another process saved meanwhile are rebuilt from the disk; the rest are this
    process's own, its earlier runs included."""
    from nasblocks._latency import Measurement

    def timed(ms: float) -> Measurement:
        return Measurement(ms, ms, ms, 0.0, ms, 3, 1, "cpu", "cpu", 1, torch.__version__, 1, "fp32", "contiguous",
                           ((3, 8, 8),))

    table = lt.LatencyTable.open("cpu")
    for ms in (1.0, 2.0, 3.0):
        table.put("unit", timed(ms))
    table.save()
    table.path.unlink()
    table.put("unit", timed(4.0))
    table.save()
    saved = json.loads(table.path.read_text())["entries"]["unit"]
    assert [run["median_ms"] for run in saved["runs"]] == [1.0, 2.0, 3.0, 4.0]  # RUNS_KEPT is more
