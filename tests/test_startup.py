"""The command line starts without torch: help, --version and usage errors import none of the
heavy libraries, and a command imports them inside ``cli.main()``, so Ctrl-C there is its
"interrupted" and status 130. Each check runs in a fresh interpreter: this one has torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "torchvision", "optuna", "networkx", "sklearn")

EVERY_HELP = """
import sys, typer
from nasblocks import cli

def command_paths(command, path=()):
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from command_paths(sub, (*path, name))

def status(*argv):
    sys.argv = ["nasblocks", *argv]
    try:
        cli.main()
    except SystemExit as done:
        return done.code or 0
    raise AssertionError(f"{argv}: main() returned without sys.exit")

heavy = set(sys.argv[1:])
assert not heavy & set(sys.modules), f"import nasblocks.cli: {sorted(heavy & set(sys.modules))}"
paths = list(command_paths(typer.main.get_command(cli.app)))
assert ("latency", "profile") in paths and ("study", "show") in paths, paths
for argv in [(*path, "--help") for path in paths] + [("--version",)]:
    assert status(*argv) == 0, argv
    assert not heavy & set(sys.modules), f"{argv}: {sorted(heavy & set(sys.modules))}"
for argv in [("build",), ("build", "resnet18", "--no-such-option"), ("study", "show"), ("nonsense",)]:
    assert status(*argv) == 2, argv
    assert not heavy & set(sys.modules), f"{argv}: {sorted(heavy & set(sys.modules))}"
"""

INTERRUPTED_IMPORT = """
import sys

class CtrlC:
    \"\"\"Ctrl-C pressed while torch is being imported.\"\"\"

    def find_spec(self, name, path, target=None):
        if name == "torch":
            raise KeyboardInterrupt
        return None

sys.meta_path.insert(0, CtrlC())
sys.argv = ["nasblocks", *sys.argv[1:]]
from nasblocks.cli import main
main()
"""


def python(code: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60)


def test_help_version_and_usage_errors_import_no_heavy_library() -> None:
    done = python(EVERY_HELP, *HEAVY)
    assert done.returncode == 0, done.stderr
    assert "Usage: nasblocks study show" in done.stdout
    assert "nasblocks 0.1.0 (torch " in done.stdout
    assert done.stderr.splitlines() == [  # click's errors, as cli.main() words them
        "error: Missing argument 'spec'. (try 'nasblocks build --help')",
        "error: No such option: --no-such-option (try 'nasblocks build --help')",
        "error: Missing argument 'name'. (try 'nasblocks study show --help')",
        "error: No such command 'nonsense'. (try 'nasblocks --help')"]


def test_the_package_imports_its_public_names_on_first_use() -> None:
    done = python("""
import sys
import nasblocks
assert not set(sys.argv[1:]) & set(sys.modules), sorted(set(sys.argv[1:]) & set(sys.modules))
assert set(nasblocks.__all__) <= set(dir(nasblocks))
from nasblocks import *
from nasblocks._spec import Spec
assert nasblocks.Spec is Spec and "torch" in sys.modules
import torch.fx
assert issubclass(nasblocks.SpecError, nasblocks.NasblocksError)
print(nasblocks.cost("resnet18").macs, "conv" in nasblocks.list_ops(), isinstance(nasblocks.build("resnet18"), torch.fx.GraphModule))
try:
    nasblocks.no_such_name
except AttributeError as err:
    print(err)
""", *HEAVY)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["1814073344 True True",
                                        "module 'nasblocks' has no attribute 'no_such_name'"]


@pytest.mark.parametrize("argv", [["ops"], ["build", "resnet18"], ["latency", "resnet18"]])
def test_ctrl_c_while_a_command_imports_torch_is_interrupted_not_a_traceback(argv: list[str]) -> None:
    done = python(INTERRUPTED_IMPORT, *argv)
    assert (done.returncode, done.stderr, done.stdout) == (130, "interrupted\n", "")
