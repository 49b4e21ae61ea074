"""The memory this process may use: the machine's, or less where its control group (a
container, a batch job) allows less. The kernel kills a process that outgrows either, so what
would outgrow it (a network's parameters, a dataset at a large resolution) is refused first."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path


def host_memory() -> tuple[int, str]:
    """The bytes this process may use, and what they are, for a message."""
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    limit = min(_cgroup_limits(), default=memory)
    return (memory, "this machine's memory") if memory <= limit else (limit, "the memory its control group may use")


CGROUPS = Path("/sys/fs/cgroup")  # where Linux mounts the control groups
SELF_CGROUP = Path("/proc/self/cgroup")


def _cgroup_limits() -> Iterator[int]:
    """The memory limits of this process's control group and those above it (a container's, a
    batch job's): the kernel kills a process that outgrows one, however much memory the machine
    has. cgroup v2's ``memory.max``, v1's ``memory.limit_in_bytes``; none off Linux."""
    try:
        lines = SELF_CGROUP.read_text().splitlines()
    except OSError:
        return
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            folder, name = CGROUPS, "memory.max"
        elif "memory" in controllers.split(","):
            folder, name = CGROUPS / "memory", "memory.limit_in_bytes"
        else:
            continue
        parts = Path(path).relative_to("/").parts
        for depth in range(len(parts) + 1):
            try:
                text = (folder.joinpath(*parts[:depth]) / name).read_text().strip()
            except OSError:
                continue
            if text.isdigit():  # not "max": no limit
                yield int(text)
