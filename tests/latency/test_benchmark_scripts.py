"""The benchmarks run end to end on the smallest settings, the latency ones on the CPU and on the
fake GPU.

A session lent a GPU has minutes to run benchmarks/device_check.sh; a script broken by a change
elsewhere would waste them. These runs assert what the scripts write (rows, summaries, the
probe's charges), never a timing.
"""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest

from nasblocks import _latency_probe

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def run_script(monkeypatch: pytest.MonkeyPatch, name: str, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", [name, *args])
    monkeypatch.setattr(sys, "path", list(sys.path))  # the script puts benchmarks/ first
    runpy.run_path(str(BENCHMARKS / name), run_name="__main__")


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_the_predictor_benchmark_writes_every_row_and_summary(
        device: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    if device == "cuda":
        request.getfixturevalue("gpu")
    # the script wraps the probe's charge to record it; restore the real one afterwards
    monkeypatch.setattr(_latency_probe, "_host_reading_cost", _latency_probe._host_reading_cost)
    out = tmp_path / "rows.json"
    run_script(monkeypatch, "latency_predictor.py", "--device", device, "--only", "squeezenet1_1", "mobilenet_v3_small",
               "--max-gmacs", "0.1", "--random", "0", "--warmup", "1", "--repeats", "3", "--remeasure", "1",
               "--json", str(out))

    written = json.loads(out.read_text())
    assert written["device"]["device"].startswith(device)  # cuda: cuda:0
    assert [row["network"] for row in written["rows"]] == ["mobilenet_v3_small", "squeezenet1_1@96"]
    for row in written["rows"]:
        assert row["ran"] and row["probed"]  # an empty table: each network ran for its own units
        assert all(p["charge_ms"] >= p["floor_ms"] for p in row["probed"])
        for stat in ("median", "min"):
            figures = row[stat]
            assert figures["predicted_ms"] > 0 and figures["measured_ms"] > 0
            assert figures["error"] == pytest.approx(figures["predicted_ms"] / figures["measured_ms"] - 1)
            assert len(figures["remeasured_ms"]) == 1
            assert (figures["gpu_ms"] is not None) == (device == "cuda")
    assert set(written["summary"]) == {"median", "min", "median_remeasured", "min_remeasured",
                                       "median_against_all", "min_against_all"}
    printed = capsys.readouterr().out
    assert f"device {device}" in printed and "   min: within ±10 %" in printed


def test_the_forward_benchmark_compares_with_torchvision_on_the_fake_gpu(
        gpu: object, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    run_script(monkeypatch, "forward_vs_reference.py", "--device", "cuda", "--only", "squeezenet1_1",
               "--max-gmacs", "0.1", "--rounds", "1", "--repeats", "2")
    printed = capsys.readouterr().out
    assert "squeezenet1_1" in printed and "96x96" in printed
    assert "1 networks: median ratio" in printed and "(Fake GPU)" in printed


def test_the_search_from_weights_benchmark_pairs_the_same_candidates(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    run_script(monkeypatch, "search_from_weights.py", "--trials", "2", "--pretrain-epochs", "1", "--limit", "200")
    printed = capsys.readouterr().out.splitlines()
    assert printed[1].startswith("weights: mobilenet_v2 trained 1 epochs on digits, accuracy ")
    rows = [line.split() for line in printed[3:-1]]
    assert [row[0] for row in rows] == ["0", "1"] and all(row[1] == "width" for row in rows)
    assert printed[-1].startswith("mean over 2 trials: scratch ")


def test_the_search_from_weights_benchmark_describes_a_candidate_of_every_space() -> None:
    """A space's candidates draw other choices than its base where they pick another case
    (mobilenet_v3's table, vgg's configuration): described, not a KeyError after the searches."""
    import optuna

    from nasblocks._space import load_space, spaces_dir

    candidate = runpy.run_path(str(BENCHMARKS / "search_from_weights.py"))["candidate"]
    for path in sorted(spaces_dir().glob("*.yaml")):
        space = load_space(path)
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        for _ in range(5):
            params = space.sample(study.ask())
            assert " choices off the base" in candidate(space, params, None), path.name
        assert candidate(space, space.default_params(), 1.0).startswith("width 1.0, 0 of "), path.name


def test_the_compile_time_benchmark_times_both_sides_and_restores_the_initialisation(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from nasblocks import _compile, _init

    run_script(monkeypatch, "compile_time.py", "--repeats", "1", "squeezenet1_1")
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row[0] == "squeezenet1_1" and row[3:5] == ["with", "init,"] and row[6:8] == ["ms", "without"]
    assert _compile.initialise is _init.initialise


def test_the_proxy_init_benchmark_pairs_the_same_candidates_and_restores_the_initialisation(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from nasblocks import _compile, _init

    run_script(monkeypatch, "proxy_init.py", "--trials", "2", "--epochs", "1", "--limit", "100", "--budget", "60MFLOPs")
    printed = capsys.readouterr().out.splitlines()
    assert printed[1].split() == ["trial", "MACs", "reference", "init", "PyTorch", "defaults"]
    assert [row.split()[0] for row in printed[2:-1]] == ["0", "1"]
    assert printed[-1].startswith("mean over 2 trials: reference init ")
    assert "rank agreement (Spearman)" in printed[-1]
    assert _compile.initialise is _init.initialise
