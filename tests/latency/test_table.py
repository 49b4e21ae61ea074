"""The per-device table: units and their keys, the file on disk, lookups, on-demand measurement
and the prediction formula. Figures in the table are planted where a test needs exact values;
no timing is asserted."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from stat import S_IMODE
from typing import Any

import pytest
import torch

import nasblocks
from nasblocks import _latency_probe
from nasblocks import _latency_table as lt
from nasblocks import _latency_units as lu
from nasblocks._compile import compile_graph
from nasblocks._latency import Measurement, Setting, device_key, setting, summarise
from nasblocks.errors import LatencyError

SUFFIX = "|b1|fp32|contiguous|t1"


def figures(ms: float) -> dict[str, float]:
    """An entry's figures, as planted by hand (no runs)."""
    return {"median_ms": ms, "p10_ms": ms, "min_ms": ms}


def test_units_fuse_conv_bn_act_and_keep_every_node_once(tiny: nasblocks.Graph) -> None:
    groups = lu.units(tiny)
    assert [[n.op for n in unit] for unit in groups] == [
        ["conv", "bn", "act"], ["conv", "bn", "act"], ["conv", "bn", "act"], ["conv", "bn"], ["add"],
        ["adaptive_avgpool"], ["flatten"], ["linear"]]
    assert [n.name for unit in groups for n in unit] == [n.name for n in tiny]


def test_a_conv_read_twice_is_not_fused_and_bn_act_is_a_unit(write_spec: Callable[..., Path]) -> None:
    # the conv's output feeds the bn and the add: fusing would hide the second reader
    path = write_spec("""
input: [4, 8, 8]
network:
  - add:
      - seq: [{conv: {out: 4, kernel: 1}}]
      - seq: []
  - conv: {out: 4, kernel: 1}
    name: c
  - inline: true
    add:
      - seq: [{bn: {}}, {act: {fn: relu}}]
      - seq: []
""")
    graph = nasblocks.expand(nasblocks.load(str(path)))
    assert [[n.op for n in unit] for unit in lu.units(graph)] == [["conv"], ["add"], ["conv"], ["bn", "act"], ["add"]]


def test_mobilenet_v2_units_and_their_keys() -> None:
    graph = nasblocks.expand(nasblocks.load("mobilenet_v2"))
    keys = [lu.unit_key(graph, unit) for unit in lu.units(graph)]
    assert keys[:4] == ["conv(out=32,kernel=3x3,stride=2x2)+bn+relu6@3x224x224",
                        "conv(out=32,kernel=3x3,groups=32)+bn+relu6@32x112x112",
                        "conv(out=16,kernel=1x1)+bn@32x112x112",
                        "conv(out=96,kernel=1x1)+bn+relu6@16x112x112"]
    assert "add@24x56x56,24x56x56" in keys
    assert keys[-4:] == ["adaptive_avgpool@1280x7x7", "flatten@1280x1x1", "dropout@1280", "linear(out=1000)@1280"]
    assert len(keys) == 66 and len(set(keys)) == 39  # repeated blocks share entries


def test_arguments_that_change_no_kernel_are_left_out_of_keys(write_spec: Callable[..., Path]) -> None:
    def key(bn: str) -> str:
        path = write_spec(f"input: [4, 8, 8]\nnetwork:\n  - conv: {{out: 4, kernel: 3}}\n  - bn: {bn}\n"
                          "  - dropout: {p: 0.3}\n  - drop_path: {p: 0.1, mode: batch}\n")
        graph = nasblocks.expand(nasblocks.load(str(path)))
        return " ".join(lu.unit_key(graph, unit) for unit in lu.units(graph))

    assert key("{eps: 0.001, momentum: 0.01}") == key("{}") == \
        "conv(out=4,kernel=3x3)+bn@4x8x8 dropout@4x8x8 drop_path@4x8x8"


def test_setting_keys_name_batch_dtype_format_and_cpu_threads() -> None:
    assert lu.setting_key(setting("cpu", threads=1)) == SUFFIX
    assert lu.setting_key(Setting("cpu", batch=8, threads=2, dtype="bf16", channels_last=True)) == \
        "|b8|bf16|channels_last|t2"
    assert lu.setting_key(setting("cpu", threads=1, clock="cpu")) == SUFFIX + "|cpu-clock"


def test_the_table_lives_under_nasblocks_cache_named_by_the_device(tiny: nasblocks.Graph, cache: Path) -> None:
    prediction = lt.predict_detail(tiny, "cpu", threads=1)
    path = cache / "latency" / f"{device_key('cpu')}.json"
    assert prediction.table == path and path.is_file()
    data = json.loads(path.read_text())
    assert data["format"] == lt.FORMAT and data["device"]["key"] == device_key("cpu")
    assert data["device"]["torch"] == torch.__version__
    keys = set(lu.entry_keys(tiny, lu.units(tiny), setting("cpu", threads=1))) | {lt.CALL + SUFFIX}
    assert set(data["entries"]) == keys
    entry = data["entries"][linear_key(tiny)]
    assert {"median_ms", "p10_ms", "min_ms", "repeats", "measured"} <= set(entry)


def linear_key(graph: nasblocks.Graph) -> str:
    return lu.entry_keys(graph, lu.units(graph), setting("cpu", threads=1))[-1]


def test_entry_keys_are_unit_and_setting_and_repeated_blocks_share_them() -> None:
    graph = nasblocks.expand(nasblocks.load("mobilenet_v2"))
    groups = lu.units(graph)
    keys = lu.entry_keys(graph, groups, setting("cpu", threads=1))
    assert keys == [lu.unit_key(graph, unit) + SUFFIX for unit in groups]
    assert len(set(keys)) == 39
    assert lu.entry_keys(graph, groups, Setting("cuda:0", threads=1))[0] == \
        "conv(out=32,kernel=3x3,stride=2x2)+bn+relu6@3x224x224|b1|fp32|contiguous"  # no threads on CUDA


def test_on_cpu_every_missing_unit_is_timed_inside_one_run_of_the_network(
        tiny: nasblocks.Graph, monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = []
    real = _latency_probe.compile_graph
    monkeypatch.setattr(_latency_probe, "compile_graph", lambda graph, probe: compiled.append(probe) or real(graph, probe))
    detail = lt.predict_detail(tiny, "cpu", threads=1)
    assert len(compiled) == 1 and compiled[0] is not None  # one instrumented network, not 8 units
    entries = lt.table_for("cpu").entries
    assert set(entries) == {lt.CALL + SUFFIX, *lu.entry_keys(tiny, lu.units(tiny), setting("cpu", threads=1))}
    assert all(e["repeats"] == 3 for e in entries.values())  # the conftest's UNIT_TIMING
    assert detail.latency_ms == pytest.approx(detail.call_ms + sum(u.ms for u in detail.units))


def test_units_repeated_in_a_network_take_their_mean_per_forward(monkeypatch: pytest.MonkeyPatch) -> None:
    graph = nasblocks.expand(nasblocks.load("mobilenet_v2", input=(3, 32, 32)))
    summarised: list[list[float]] = []
    real = lt.summarise
    monkeypatch.setattr(lt, "summarise", lambda times, *a, **k: summarised.append(list(times)) or real(times, *a, **k))
    found = lt.measure_in_network(graph, setting("cpu", threads=1), warmup=1, repeats=2)
    keys = lu.entry_keys(graph, lu.units(graph), setting("cpu", threads=1))
    assert set(found) == {lt.CALL + SUFFIX, *keys} and found[lt.CALL + SUFFIX][0].repeats == 2
    assert all(host is None for _, host in found.values())  # on CPU there is one side
    assert len(summarised) == 1 + len(set(keys))  # one series per key, however often it repeats
    repeated = max(set(keys), key=keys.count)
    assert keys.count(repeated) > 1 and found[repeated][0].repeats == 2
    group = lu.units(graph)[keys.index(repeated)]
    assert found[repeated][0].input_shape == tuple(graph.shape_of(name) for name in lu.unit_inputs(group))


@pytest.mark.parametrize("stat", lt.STATS)
def test_units_shares_add_up_to_the_forward_at_each_statistic(stat: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # each unit's minimum is its time in the fastest forward (not its own minimum, which comes
    # from another forward), so call + Σ units is the fastest forward: the same for p10, median
    graph = nasblocks.expand(nasblocks.load("mobilenet_v2", input=(3, 32, 32)))
    forwards: list[list[float]] = []
    real = lt.summarise
    monkeypatch.setattr(lt, "summarise", lambda *a, ranks, **k: forwards.append(list(ranks)) or real(*a, ranks=ranks, **k))
    monkeypatch.setattr(_latency_probe, "_reading_cost", lambda probe: (0.0, 0.0))  # nothing subtracted
    monkeypatch.setattr(_latency_probe, "_host_reading_cost", lambda *args: 0.0)
    found = lt.measure_in_network(graph, setting("cpu", threads=1), warmup=1, repeats=7)
    keys = lu.entry_keys(graph, lu.units(graph), setting("cpu", threads=1))
    figure = f"{stat}_ms"
    total = sum(getattr(found[key][0], figure) for key in [lt.CALL + SUFFIX, *keys])
    assert total == pytest.approx(getattr(real(forwards[0], 1, setting("cpu"), []), figure), rel=1e-9)


def test_a_probed_network_computes_what_the_network_computes(tiny: nasblocks.Graph) -> None:
    seen: list[str] = []

    def probe(name: str) -> None:
        seen.append(name)

    plain, probed = compile_graph(tiny), compile_graph(tiny, probe)
    probed.load_state_dict(plain.state_dict())
    x = torch.randn(2, *tiny.input_shape)
    with torch.no_grad():
        assert torch.equal(probed.eval()(x), plain.eval()(x))
    assert seen == ["x", *[node.name for node in tiny]]


def test_auxiliary_heads_are_no_units_of_inference() -> None:
    graph = nasblocks.expand(nasblocks.load("googlenet"))
    scopes = {unit[0].scope.split(".")[0] for unit in lu.units(graph)}
    assert "aux1" not in scopes and "aux2" not in scopes and "inception5b" in scopes


def test_the_default_cache_is_under_the_home_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("NASBLOCKS_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert lt.table_path("cpu") == tmp_path / ".cache" / "nasblocks" / "latency" / f"{device_key('cpu')}.json"


def test_missing_units_are_measured_once_then_looked_up(tiny: nasblocks.Graph, monkeypatch: pytest.MonkeyPatch) -> None:
    first = lt.predict_detail(tiny, "cpu", threads=1)
    assert first.measured_now == len(set(lu.unit_key(tiny, u) for u in lu.units(tiny))) + 1  # + the call
    monkeypatch.setattr(lt, "measure_in_network", lambda *a, **k: pytest.fail("a unit in the table was measured again"))
    again = lt.predict_detail(tiny, "cpu", threads=1)
    assert again.measured_now == 0 and again.latency_ms == first.latency_ms


def test_a_new_process_reads_the_table_from_disk(tiny: nasblocks.Graph, monkeypatch: pytest.MonkeyPatch) -> None:
    first = lt.predict(tiny, "cpu", threads=1)
    monkeypatch.setattr(lt, "_OPEN", {})  # as a fresh process
    monkeypatch.setattr(lt, "measure_in_network", lambda *a, **k: pytest.fail("measured although on disk"))
    assert lt.predict(tiny, "cpu", threads=1) == first


def test_a_missing_unit_is_added_and_the_networks_other_units_gain_a_run(tiny: nasblocks.Graph) -> None:
    lt.predict(tiny, "cpu", threads=1)
    table = lt.table_for("cpu")
    before = {key: len(entry["runs"]) for key, entry in table.entries.items()}
    assert set(before.values()) == {1}
    del table.entries[linear_key(tiny)]
    saved = json.loads(table.path.read_text())
    del saved["entries"][linear_key(tiny)]
    table.path.write_text(json.dumps(saved))  # missing on disk too
    assert lt.predict_detail(tiny, "cpu", threads=1).measured_now == 1
    on_disk = json.loads(table.path.read_text())["entries"]
    assert len(on_disk[linear_key(tiny)]["runs"]) == 1
    assert all(len(on_disk[key]["runs"]) == 2 for key in before if key != linear_key(tiny))


def age_entries(table: lt.LatencyTable, seconds: float) -> None:
    stamp = time.strftime(lt.MEASURED_FORMAT, time.localtime(time.time() - seconds))
    for entry in table.entries.values():
        entry["measured"] = stamp


def test_an_entry_of_few_runs_is_timed_again_by_a_later_network(tiny: nasblocks.Graph) -> None:
    first = lt.predict_detail(tiny, "cpu", threads=1)
    table = lt.table_for("cpu")
    assert first.ran and not lt.predict_detail(tiny, "cpu", threads=1).ran  # its run is a moment old
    for runs in range(2, lt.SETTLED_RUNS + 1):
        age_entries(table, lt.SETTLE_AFTER_S)  # a minute later, another network with these units
        again = lt.predict_detail(tiny, "cpu", threads=1)
        assert again.ran and again.measured_now == 0
        assert {len(entry["runs"]) for entry in table.entries.values()} == {runs}
    age_entries(table, 10 * lt.SETTLE_AFTER_S)
    assert not lt.predict_detail(tiny, "cpu", threads=1).ran  # settled: looked up from now on
    assert not lt.predict_detail(tiny, "cpu", threads=1, measure_missing=False).ran


def test_a_table_this_user_cannot_write_is_taken_as_it_is_unless_it_lacks_a_unit(
        tiny: nasblocks.Graph, monkeypatch: pytest.MonkeyPatch) -> None:
    first = lt.predict_detail(tiny, "cpu", threads=1)
    table = lt.table_for("cpu")
    age_entries(table, lt.SETTLE_AFTER_S)  # entries of one run, due to be timed again

    def read_only(*args: Any, **kwargs: Any) -> None:  # root writes anywhere: a shared cache, as it fails
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(lt.tempfile, "TemporaryFile", read_only)
    monkeypatch.setattr(lt, "measure_in_network", lambda *a, **k: pytest.fail("timed for a table it cannot keep"))
    again = lt.predict_detail(tiny, "cpu", threads=1)
    assert not again.ran and again.latency_ms == first.latency_ms
    del table.entries[linear_key(tiny)]
    with pytest.raises(LatencyError, match=r"^cannot write the latency table .* \(Permission denied\); set "):
        lt.predict(tiny, "cpu", threads=1)


def timed(ms: float) -> Measurement:
    return summarise([ms], 1, setting("cpu", threads=1), [(1,)])


def test_an_entrys_figures_are_the_median_of_its_latest_runs() -> None:
    table = lt.table_for("cpu")
    for ms in (1.0, 5.0, 2.0):  # the 5.0 a busy moment
        table.put("u", timed(ms))
    assert table.get("u")["median_ms"] == table.get("u")["min_ms"] == 2.0
    for ms in range(1, 4 + lt.RUNS_KEPT):  # a CUDA entry: the host's time beside the GPU's
        table.put("g", timed(ms), timed(ms / 10))
    entry = table.get("g")
    assert [run["median_ms"] for run in entry["runs"]] == list(range(4, 4 + lt.RUNS_KEPT))  # the latest only
    assert entry["median_ms"] == 8 and entry["host_min_ms"] == pytest.approx(0.8)


def test_another_setting_is_another_entry(tiny: nasblocks.Graph) -> None:
    lt.predict(tiny, "cpu", threads=1)
    assert lt.predict_detail(tiny, "cpu", threads=1, batch=2).measured_now > 0
    assert any(key.endswith("|b2|fp32|contiguous|t1") for key in lt.table_for("cpu").entries)


def plant(graph: nasblocks.Graph, values: list[float], call: float) -> None:
    """Put known figures in the table: each unit's median in graph order (p10 and min: half and a
    third of it)."""
    table = lt.table_for("cpu")
    keys = lu.entry_keys(graph, lu.units(graph), setting("cpu", threads=torch.get_num_threads()))
    for key, ms in zip([lt.CALL + SUFFIX.replace("|t1", f"|t{torch.get_num_threads()}"), *keys], [call, *values]):
        table.entries[key] = {"median_ms": ms, "p10_ms": ms / 2, "min_ms": ms / 3}


def test_on_cpu_the_prediction_is_the_call_plus_each_unit(tiny: nasblocks.Graph) -> None:
    torch.set_num_threads(1)
    plant(tiny, [1.0 + i for i in range(8)], call=0.5)
    detail = lt.predict_detail(tiny, "cpu", threads=1, measure_missing=False)
    assert detail.latency_ms == pytest.approx(0.5 + sum(1.0 + i for i in range(8)))
    assert detail.measured_now == 0 and detail.gpu_ms is None
    assert [u.key for u in detail.units] == lu.entry_keys(tiny, lu.units(tiny), setting("cpu", threads=1))
    assert detail.units[6].ms == 7.0 and detail.units[0].scope == "0.0"


def test_the_statistic_summed_is_chosen(tiny: nasblocks.Graph) -> None:
    torch.set_num_threads(1)
    plant(tiny, [6.0] * 8, call=3.0)
    assert lt.predict(tiny, "cpu", threads=1, measure_missing=False) == pytest.approx(3.0 + 8 * 6.0)
    assert lt.predict(tiny, "cpu", threads=1, stat="p10", measure_missing=False) == pytest.approx(1.5 + 8 * 3.0)
    assert lt.predict(tiny, "cpu", threads=1, stat="min", measure_missing=False) == pytest.approx(1.0 + 8 * 2.0)


def test_the_cost_api_predicts_with_the_setting_it_is_given(tiny: nasblocks.Graph, tiny_path: Path) -> None:
    torch.set_num_threads(1)
    plant(tiny, [2.0] * 8, call=1.0)
    spec = nasblocks.load(str(tiny_path))
    cost = nasblocks.cost(spec, latency="cpu")  # torch's thread count, the median
    assert cost.latency_ms == pytest.approx(1.0 + 8 * 2.0) and cost.macs == tiny.macs
    assert nasblocks.cost(spec, latency="cpu", threads=1, stat="min").latency_ms == pytest.approx(17.0 / 3)
    assert nasblocks.cost(spec).latency_ms is None
    with pytest.raises(TypeError, match="unexpected keyword argument 'thread'; the latency setting takes batch"):
        nasblocks.cost(spec, latency="cpu", thread=1)
    with pytest.raises(TypeError, match=r"cost\(threads=\.\.\.\) sets how latency is predicted: give latency= too"):
        nasblocks.cost(spec, threads=1)


def test_without_measuring_a_missing_entry_is_an_error(tiny: nasblocks.Graph) -> None:
    with pytest.raises(LatencyError, match=r"no entry '\(call\)\|b1\|fp32\|contiguous\|t1' in .*\.json; run "
                                           r"`nasblocks latency profile` or allow measuring missing units"):
        lt.predict(tiny, "cpu", threads=1, measure_missing=False)


def test_an_unknown_statistic_is_an_error(tiny: nasblocks.Graph) -> None:
    with pytest.raises(LatencyError, match="stat: expected one of median, p10, min, got 'mean'"):
        lt.predict(tiny, "cpu", stat="mean")


def test_two_processes_filling_one_table_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    first, second = lt.LatencyTable.open("cpu", path), lt.LatencyTable.open("cpu", path)
    first.entries["a"] = figures(1.0)
    second.entries["b"] = figures(2.0)
    first.save()
    second.save()
    assert set(json.loads(path.read_text())["entries"]) == {"a", "b"}
    assert [file.name for file in tmp_path.iterdir()] == ["t.json"]  # written atomically, no temporary left
    first.entries.clear()
    first.reload()
    assert set(first.entries) == {"a", "b"}


def test_a_saved_table_is_readable_as_the_umask_allows(tmp_path: Path) -> None:
    # a cache that several users' workers share: not mkstemp's owner-only 0600
    table = lt.LatencyTable.open("cpu", tmp_path / "t.json")
    table.entries["a"] = figures(1.0)
    previous = os.umask(0o022)
    try:
        table.save()
    finally:
        os.umask(previous)
    assert S_IMODE((tmp_path / "t.json").stat().st_mode) == 0o644


def test_entries_another_process_added_are_found_before_measuring(tiny: nasblocks.Graph, monkeypatch: pytest.MonkeyPatch) -> None:
    lt.predict(tiny, "cpu", threads=1)
    table = lt.table_for("cpu")
    other = lt.LatencyTable.open("cpu", table.path)
    other.entries["conv(out=99)@1x1x1" + SUFFIX] = {"median_ms": 1.0, "p10_ms": 1.0, "min_ms": 1.0}
    other.save()
    table._mtime = -1  # its file changed since this process read it
    assert lt._lookup(table, "conv(out=99)@1x1x1" + SUFFIX) == {"median_ms": 1.0, "p10_ms": 1.0, "min_ms": 1.0}


def test_a_damaged_table_says_what_to_do(tiny: nasblocks.Graph, cache: Path) -> None:
    path = lt.table_path("cpu")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(LatencyError, match=r"not a readable latency table .*; delete it and it is measured again"):
        lt.predict(tiny, "cpu", threads=1)
    path.write_text(json.dumps({"format": lt.FORMAT, "device": {"key": "cuda-h100"}, "entries": {}}))
    with pytest.raises(LatencyError, match=r"holds the table of 'cuda-h100', not of this device"):
        lt.LatencyTable.open("cpu")


def test_a_table_of_an_older_method_is_measured_again_and_replaced(tiny: nasblocks.Graph, cache: Path) -> None:
    path = lt.table_path("cpu")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"format": lt.FORMAT - 1, "device": {"key": device_key("cpu")},
                                "entries": {"stale": {"median_ms": 9.0}}}))
    assert lt.predict_detail(tiny, "cpu", threads=1).measured_now == 9  # the call and 8 units
    data = json.loads(path.read_text())
    assert data["format"] == lt.FORMAT and "stale" not in data["entries"] and len(data["entries"]) == 9


def cuda_entry(gpu: float, host: float) -> dict[str, float]:
    return {"median_ms": gpu, "p10_ms": gpu, "min_ms": gpu / 2, "host_median_ms": host, "host_min_ms": host / 2}


def test_on_cuda_the_slower_side_sets_the_pace() -> None:
    call = cuda_entry(0.0, 0.01)
    # GPU-bound units hide the host time of host-bound ones: 2.0 of GPU work against 0.09 of host
    shares = [("big", "a", cuda_entry(1.9, 0.03)), ("small", "b", cuda_entry(0.1, 0.05))]
    latency, call_ms, units_, gpu, host = lt.combine(call, shares)
    assert (gpu, host, latency, call_ms) == (pytest.approx(2.0), pytest.approx(0.01 + 0.03 + 0.05),
                                             pytest.approx(2.0), 0.01)
    assert [(u.key, u.ms, u.host_ms) for u in units_] == [("big", 1.9, 0.03), ("small", 0.1, 0.05)]
    # many cheap launches: the host sets the pace (each side's figure of the statistic asked for)
    shares = [(f"u{i}", "s", cuda_entry(0.001, 0.021)) for i in range(100)]
    latency, *_, gpu, host = lt.combine(call, shares, "min")
    assert gpu == pytest.approx(0.05) and latency == host == pytest.approx((0.01 + 100 * 0.021) / 2)


def test_on_cpu_units_are_summed_with_the_call() -> None:
    call = {"median_ms": 0.5, "min_ms": 0.2}
    latency, call_ms, units_, gpu, host = lt.combine(call, [("a", "s", {"median_ms": 2.0, "min_ms": 1.0}),
                                                           ("b", "s", {"median_ms": 0.1, "min_ms": 0.1})])
    assert (latency, call_ms, [u.ms for u in units_], gpu, host) == (2.6, 0.5, [2.0, 0.1], None, None)


RUN = {"median_ms": 1.0, "p10_ms": 1.0, "min_ms": 1.0, "p90_ms": 1.0}


WRONG_TABLE = r"not a nasblocks latency table of format \d+; delete it"
WRONG_ENTRY = r"entry 'a' is not an object of figures in ms .*; delete the file"


@pytest.mark.parametrize("damage, message", [
    ({"device": "cpu"}, WRONG_TABLE), ({"entries": {"a": 3}}, WRONG_ENTRY),
    ({"entries": {"a": figures(1.0) | {"median_ms": "1"}}}, WRONG_ENTRY),  # every figure there, one a string
    ({"entries": {"a": {}}}, WRONG_ENTRY),
    ({"entries": {"a": {"median_ms": 1.0}}}, WRONG_ENTRY),  # figures missing: no statistic to sum
    ({"entries": {"a": figures(1.0) | {"host_median_ms": 1.0}}}, WRONG_ENTRY),  # a host's side without p10 and min
    ({"entries": {"a": figures(1.0) | {"runs": [RUN]}}}, WRONG_ENTRY),  # runs, and no time of the latest
    ({"entries": {"a": figures(1.0) | {"runs": [RUN], "measured": "yesterday"}}}, WRONG_ENTRY),
    ({"entries": {"a": figures(1.0) | {"runs": RUN, "measured": "2026-11-27T05:00:00"}}}, WRONG_ENTRY),
    ({"entries": {"a": figures(1.0) | {"runs": [{"median_ms": 1.0}], "measured": "2026-11-27T05:00:00"}}},
     WRONG_ENTRY),
])
def test_a_table_of_the_wrong_shape_says_what_to_do(damage: dict[str, Any], message: str, cache: Path) -> None:
    path = lt.table_path("cpu")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"format": lt.FORMAT, "device": {"key": device_key("cpu")}, "entries": {}} | damage))
    with pytest.raises(LatencyError, match=f"^{re.escape(str(path))}: {message} and it is measured again$"):
        lt.LatencyTable.open("cpu")


def test_a_table_written_whole_by_this_method_passes_the_check(tiny: nasblocks.Graph) -> None:
    lt.predict(tiny, "cpu", threads=1)
    table = lt.LatencyTable.open("cpu")
    assert len(table.entries) == 9 and all(map(lt._is_entry, table.entries.values()))


def test_a_table_this_user_cannot_read_is_not_to_be_deleted(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = lt.table_path("cpu")
    path.parent.mkdir(parents=True)
    path.write_text("{}")

    def not_ours(self: Path) -> bytes:  # root reads any file: another user's, as it would fail
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", not_ours)
    with pytest.raises(LatencyError) as raised:
        lt.LatencyTable.open("cpu")
    assert str(raised.value) == (f"cannot read the latency table {path} (Permission denied); "
                                 f"set NASBLOCKS_CACHE to a folder you can write")


def test_a_table_of_a_newer_nasblocks_is_left_as_it_is(tiny: nasblocks.Graph, cache: Path) -> None:
    path = lt.table_path("cpu")
    path.parent.mkdir(parents=True)
    newer = json.dumps({"format": lt.FORMAT + 1, "device": {"key": device_key("cpu")}, "entries": {"a": [1]}})
    path.write_text(newer)
    with pytest.raises(LatencyError, match=rf"\.json: a latency table of format {lt.FORMAT + 1}, written by a newer "
                                           rf"nasblocks \(this one reads format {lt.FORMAT}\); upgrade nasblocks, or set "
                                           r"NASBLOCKS_CACHE to another folder$"):
        lt.predict(tiny, "cpu", threads=1)
    assert path.read_text() == newer  # not deleted, nor replaced by this one's


def test_a_cache_folder_that_cannot_be_written_is_one_clear_error(tiny: nasblocks.Graph, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("NASBLOCKS_CACHE", str(tmp_path / "a-file"))  # root writes anywhere; not under a file
    timed: list[nasblocks.Graph] = []
    monkeypatch.setattr(lt, "measure_in_network", lambda graph, *args, **kwargs: timed.append(graph) or {})
    with pytest.raises(LatencyError, match=r"cannot write the latency table .*a-file/latency/.*\.json "
                                           r"\(.*a-file is a file, not a folder\); set NASBLOCKS_CACHE to a folder you can write"):
        lt.predict(tiny, "cpu", threads=1)
    assert timed == []  # said before the network was timed for a table it could not keep


def test_a_network_the_device_cannot_hold_while_its_units_are_timed_is_one_line(
        tiny: nasblocks.Graph, monkeypatch: pytest.MonkeyPatch) -> None:
    def out_of_memory(*args: Any, **kwargs: Any) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB.")

    monkeypatch.setattr(lt, "measure_in_network", out_of_memory)
    with pytest.raises(LatencyError, match=r"^out of memory on cpu timing a batch of 64 \(CUDA out of memory\. "
                                           r"Tried to allocate 9\.00 GiB\.\); try a smaller batch$"):
        lt.predict(tiny, "cpu", threads=1, batch=64)


def test_two_processes_saving_at_the_same_moment_lose_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.json"
    first, second = lt.LatencyTable.open("cpu", path), lt.LatencyTable.open("cpu", path)
    path.write_text(json.dumps({"format": lt.FORMAT, "device": first.device, "entries": {}}))
    first.entries["a"] = figures(1.0)
    second.entries["b"] = figures(2.0)
    other = threading.Thread(target=second.save)
    read = first._read

    def read_then_the_other_saves() -> dict[str, Any]:
        entries = read()  # the second saves between the first's reading the file and replacing it
        other.start()
        other.join(timeout=2)  # with the lock it waits until the first has saved
        return entries

    monkeypatch.setattr(first, "_read", read_then_the_other_saves)
    first.save()
    other.join(timeout=20)
    assert set(json.loads(path.read_text())["entries"]) == {"a", "b"}
