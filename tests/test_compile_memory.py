"""The memory a network's parameters may take before compiling refuses it: the machine's, or
less where the process's control group (a container, a batch job) allows less."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import nasblocks
from nasblocks import _memory

# 8 → 500,000 channels: 4,000,000 weights (no bias), 16 MB as float32
SPEC = "input: [8, 4, 4]\nnetwork:\n  - conv: {out: 500000, kernel: 1}\n    name: wide\n"


@pytest.fixture
def cgroups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, dict[str, str]], None]:
    """cgroups(proc_self_cgroup, {file under the cgroup mount: its text})."""

    def given(membership: str, files: dict[str, str]) -> None:
        (tmp_path / "self").write_text(membership)
        for name, text in files.items():
            (tmp_path / "fs" / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / "fs" / name).write_text(text)
        monkeypatch.setattr(_memory, "SELF_CGROUP", tmp_path / "self")
        monkeypatch.setattr(_memory, "CGROUPS", tmp_path / "fs")

    return given


@pytest.mark.parametrize("membership, files", [
    ("0::/job/step\n", {"memory.max": "max\n", "job/memory.max": "10000000\n", "job/step/memory.max": "max\n"}),
    ("4:memory:/docker/abc\n0::/\n", {"memory/docker/abc/memory.limit_in_bytes": "10000000\n"}),
], ids=["v2, set above the process's group", "v1"])
def test_parameters_beyond_the_control_groups_limit_are_refused(
        write_spec: Callable[..., Path], cgroups: Callable[[str, dict[str, str]], None],
        membership: str, files: dict[str, str]) -> None:
    spec = write_spec(SPEC)
    nasblocks.build(spec)  # 16 MB: within this machine's memory
    cgroups(membership, files)
    with pytest.raises(nasblocks.SpecError, match=r"^\S+net.yaml:3: network\[0\].conv: the network's 4,000,000 "
                                                  r"parameters take 16.0 MB as float32, more than the memory its "
                                                  r"control group may use \(10.0 MB\); this layer \(wide\) holds "
                                                  r"4,000,000 of them$"):
        nasblocks.build(spec)


def test_groups_without_a_memory_limit_leave_the_machines_memory(
        write_spec: Callable[..., Path], cgroups: Callable[[str, dict[str, str]], None]) -> None:
    cgroups("9:name=systemd:/\n4:memory:/\n0::/\n", {"memory.max": "max\n",
                                                      "memory/memory.limit_in_bytes": "9223372036854771712\n"})
    assert sum(p.numel() for p in nasblocks.build(write_spec(SPEC)).parameters()) == 4_000_000
