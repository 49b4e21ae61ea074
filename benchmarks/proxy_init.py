"""Proxies trained from their reference's initialisation (the spec's ``init``) against the same
proxies from PyTorch's defaults, side by side in one run: a search's candidates (the random
sampler draws trial n from seed + n in both runs, no pruning) trained with the same recipe on
scikit-learn's digits.

    .venv/bin/python benchmarks/proxy_init.py [--space mobilenet_v2] [--trials 8] [--epochs 3]

A proxy is worth what its ranking of candidates is worth, so besides each start's accuracies it
prints how far the two starts agree on the ranking (Spearman's rho): low agreement means the
choice of initialisation picks other networks, not only other scores.
"""

from __future__ import annotations

import io
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _paired_search  # noqa: E402
from rich.console import Console  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from nasblocks import _compile  # noqa: E402
from nasblocks._search_run import run_search  # noqa: E402


def main() -> None:
    args = _paired_search.parser(__doc__, 3, "per trial (default: the search's)").parse_args()
    given = _paired_search.settings(args, pruner="none")
    drawn = _compile.initialise
    quiet = Console(file=io.StringIO())
    with tempfile.TemporaryDirectory() as folder:
        reference = run_search(given, study="reference", root=Path(folder), console=quiet).study
        _compile.initialise = lambda module, graph: None
        try:
            default = run_search(given, study="default", root=Path(folder), console=quiet).study
        finally:
            _compile.initialise = drawn
    print(f"{'trial':>5}  {'MACs':>12}  {'reference init':>14}  {'PyTorch defaults':>16}")
    pairs = []
    for a, b in zip(reference.trials, default.trials):
        assert a.params == b.params, "the two searches drew different candidates"
        if "accuracy" not in a.user_attrs or "accuracy" not in b.user_attrs:  # over the budget
            continue
        pairs.append((a.user_attrs["accuracy"], b.user_attrs["accuracy"]))
        print(f"{a.number:>5}  {a.user_attrs.get('macs', 0):>12,}  {pairs[-1][0]:>14.3f}  {pairs[-1][1]:>16.3f}")
    if len(pairs) > 1:
        reference_acc, default_acc = zip(*pairs)
        ranked = len(set(reference_acc)) > 1 and len(set(default_acc)) > 1  # else no ranking to agree on
        rho = f"{spearmanr(reference_acc, default_acc).statistic:.2f}" if ranked else "undefined (ties)"
        wins = sum(a > b for a, b in pairs)
        print(f"mean over {len(pairs)} trials: reference init {statistics.mean(reference_acc):.3f}, "
              f"PyTorch defaults {statistics.mean(default_acc):.3f}; reference higher in {wins}; "
              f"rank agreement (Spearman) {rho}")


if __name__ == "__main__":
    main()
