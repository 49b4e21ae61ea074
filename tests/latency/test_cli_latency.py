"""`nasblocks latency` as a user runs it: measure, --predict, --json, profile, and one-line errors."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import torch

from nasblocks import _latency_table as lt
from nasblocks import cli_latency
from nasblocks.cli import main

QUICK = ["--threads", "1", "--warmup", "1", "--repeats", "3"]


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> tuple[str, str]:
    monkeypatch.setattr(sys, "argv", ["nasblocks", "latency", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    assert (exited.value.code or 0) == code
    captured = capsys.readouterr()
    return captured.out, captured.err


def test_a_spec_is_measured_with_what_it_ran_on(monkeypatch, capsys, tiny_path: Path) -> None:
    out, _ = run(monkeypatch, capsys, str(tiny_path), *QUICK)
    assert out.startswith(f"tiny ({tiny_path}), input 3×16×16")
    assert "measured" in out and "median of 3" in out and "spread" in out
    assert "1 thread, batch 1, fp32, contiguous, wall clock" in out and f"torch {torch.__version__}" in out


def test_measure_is_also_a_named_command_and_json_is_machine_readable(monkeypatch, capsys, tiny_path: Path) -> None:
    out, _ = run(monkeypatch, capsys, "measure", str(tiny_path), *QUICK, "--batch", "2", "--json")
    report = json.loads(out)
    assert report["name"] == "tiny" and report["input"] == [3, 16, 16] and "predicted" not in report
    measured = report["measured"]
    assert measured["median_ms"] > 0 and measured["repeats"] == 3 and measured["batch"] == 2
    assert measured["threads"] == 1 and measured["device"] == "cpu" and measured["torch_version"] == torch.__version__
    report = json.loads(run(monkeypatch, capsys, str(tiny_path), *QUICK, "--input", "3x24x24", "--json")[0])
    assert report["input"] == [3, 24, 24] and report["spec_input"] == [3, 16, 16]  # as build --json says it


def test_predict_puts_the_prediction_beside_the_measurement(monkeypatch, capsys, tiny_path: Path) -> None:
    out, _ = run(monkeypatch, capsys, str(tiny_path), *QUICK, "--predict", "--json")
    predicted = json.loads(out)["predicted"]
    assert predicted["units"] == 8 and predicted["measured_now"] == 8 + 1 and predicted["latency_ms"] > 0
    assert predicted["table"] == str(lt.table_path("cpu")) and "error" in predicted
    out, _ = run(monkeypatch, capsys, str(tiny_path), *QUICK, "--predict")
    assert "predicted" in out and "% vs measured; 8 units, 0 measured now" in out


def test_on_cuda_the_prediction_shows_the_gpus_side_and_the_hosts(monkeypatch, capsys, gpu, tiny_path: Path) -> None:
    out, _ = run(monkeypatch, capsys, str(tiny_path), "--device", "cuda", "--batch", "4", "--warmup", "1",
                 "--repeats", "3", "--predict")
    assert re.search(r"predicted +[\d.]+ ms +[-+][\d.]+ % vs measured \(GPU [\d.]+ ms, host [\d.]+ ms\); "
                     r"8 units, 9 measured now", out)
    assert "on cuda:0 (Fake GPU), batch 4, fp32, contiguous, wall clock" in out


def test_profile_fills_the_table_for_the_given_specs(monkeypatch, capsys, tiny_path: Path) -> None:
    out, _ = run(monkeypatch, capsys, "profile", str(tiny_path), "--threads", "1", "--json")
    report = json.loads(out)
    assert report["measured_now"] == 9 and report["entries"] == 9 and report["networks"][0]["units"] == 8
    out, _ = run(monkeypatch, capsys, "profile", str(tiny_path), "--threads", "1")
    assert "0 units measured now; 9 entries in" in out


def test_profile_measures_the_units_at_the_given_input_size(monkeypatch, capsys, tiny_path: Path) -> None:
    out, _ = run(monkeypatch, capsys, "profile", str(tiny_path), "--input", "3x32x32", "--threads", "1", "--json")
    assert json.loads(out)["measured_now"] == 9
    keys = set(json.loads(lt.table_path("cpu").read_text())["entries"])
    assert any(key.startswith("conv(out=8,kernel=3x3,stride=2x2)+bn+relu@3x32x32|") for key in keys)
    assert not any("@3x16x16|" in key for key in keys)  # the spec's own size was not profiled
    _, err = run(monkeypatch, capsys, "profile", str(tiny_path), "--set", "no_such_var=1", code=2)
    assert "no_such_var" in err and err.count("\n") == 1


def test_cuda_without_a_gpu_is_one_line_and_exit_2(monkeypatch, capsys, tiny_path: Path) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out, err = run(monkeypatch, capsys, str(tiny_path), "--device", "cuda", "--batch", "64", code=2)
    assert err == "error: --device cuda: this machine has no CUDA device; use --device cpu\n" and out == ""
    _, err = run(monkeypatch, capsys, "profile", "--device", "cuda", code=2)
    assert err == "error: --device cuda: this machine has no CUDA device; use --device cpu\n"


def test_a_bad_option_is_one_line_and_exit_2(monkeypatch, capsys, tiny_path: Path) -> None:
    _, err = run(monkeypatch, capsys, str(tiny_path), "--dtype", "fp64", code=2)
    assert err == "error: --dtype: expected one of fp32, fp16, bf16, got 'fp64'\n"
    _, err = run(monkeypatch, capsys, "no_such_network", code=2)
    assert err.startswith("error: no spec file or zoo network named 'no_such_network'")


def test_repeats_and_warmup_are_checked_before_anything_is_measured(monkeypatch, capsys, tiny_path: Path) -> None:
    _, err = run(monkeypatch, capsys, str(tiny_path), "--threads", "1", "--predict", "--repeats", "0", code=2)
    assert err.startswith("error: Invalid value for '--repeats': Input should be greater than or equal to 1")
    _, err = run(monkeypatch, capsys, str(tiny_path), "--threads", "1", "--predict", "--warmup", "-1", code=2)
    assert err.startswith("error: Invalid value for '--warmup': Input should be greater than or equal to 0")
    assert not lt.table_path("cpu").exists()  # no unit was measured for the prediction


def test_profile_says_what_its_figures_were_measured_under_and_how_far_it_is(monkeypatch, capsys, tiny_path: Path) -> None:
    out, _ = run(monkeypatch, capsys, "profile", str(tiny_path), str(tiny_path), "--threads", "1", "--batch", "2",
                 "--json")
    assert json.loads(out)["setting"] == {"device": "cpu", "batch": 2, "threads": 1, "dtype": "fp32",
                                          "channels_last": False, "clock": "wall"}
    shown: list[str] = []
    monkeypatch.setattr(cli_latency.console, "status", lambda text: StatusSpy(shown, text))
    run(monkeypatch, capsys, "profile", str(tiny_path), str(tiny_path), "--threads", "1")
    assert shown == ["profiling", f"profiling {tiny_path} (1 of 2)", f"profiling {tiny_path} (2 of 2)"]


class StatusSpy:
    """What ``console.status`` shows, as a list of its texts (rich draws nothing off a terminal)."""

    def __init__(self, shown: list[str], text: str) -> None:
        self.shown = shown
        shown.append(text)

    def __enter__(self) -> StatusSpy:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, text: str) -> None:
        self.shown.append(text)


def test_profile_checks_every_spec_before_it_measures_any(monkeypatch, capsys, tiny_path: Path) -> None:
    _, err = run(monkeypatch, capsys, "profile", str(tiny_path), "no_such_network", "--threads", "1", code=2)
    assert err.startswith("error: no spec file or zoo network named 'no_such_network'")
    assert not lt.table_path("cpu").exists()  # tiny was not profiled first


def test_profile_stopped_by_ctrl_c_keeps_what_it_measured(monkeypatch, capsys, tiny_path: Path, write_spec) -> None:
    other = write_spec(tiny_path.read_text().replace("linear: {out: 4}", "linear: {out: 5}"), "other.yaml")
    measure_in_network = lt.measure_in_network
    calls = []

    def ctrl_c_in_the_second(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return measure_in_network(*args, **kwargs)

    monkeypatch.setattr(lt, "measure_in_network", ctrl_c_in_the_second)
    out, err = run(monkeypatch, capsys, "profile", str(tiny_path), str(other), "--threads", "1", code=130)
    assert err == "interrupted\n" and "tiny.yaml" in out and "other.yaml" not in out
    assert len(json.loads(lt.table_path("cpu").read_text())["entries"]) == 9  # the first network's, whole
    monkeypatch.setattr(lt, "_OPEN", {})  # a second run, in a new process
    out, _ = run(monkeypatch, capsys, "profile", str(tiny_path), str(other), "--threads", "1", "--json")
    assert [row["measured_now"] for row in json.loads(out)["networks"]] == [0, 1]  # only other's linear
