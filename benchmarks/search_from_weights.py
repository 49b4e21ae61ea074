"""A search started from weights (``--weights``) against the same search from scratch, side by
side in one run: a space (mobilenet_v2 unless ``--space``) on scikit-learn's digits, the same
candidates (the random sampler draws trial n from seed + n in both) trained for the same epochs.

    .venv/bin/python benchmarks/search_from_weights.py [--space mobilenet_v2] [--budget 300MFLOPs]
        [--trials 8] [--epochs 1] [--pretrain-epochs 6]

The weights are the space's base network (mobilenet_v2's: MobileNetV2 1.0) trained first on the
search's own training split at the proxy resolution (nothing is downloaded: this measures the
mechanism, how much of a checkpoint a trial takes and what that is worth, not ImageNet's
features). Prints per
trial the candidate (its width, and how many of the space's choices differ from the base's),
what it took of the file (tensors whole / in part / fresh) and both accuracies, then the means.
"""

from __future__ import annotations

import io
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _paired_search  # noqa: E402
import torch  # noqa: E402
from rich.console import Console  # noqa: E402

import nasblocks  # noqa: E402
from nasblocks._data import load_dataset  # noqa: E402
from nasblocks._search_config import DEFAULT_RESOLUTION, PROXY_RECIPE  # noqa: E402
from nasblocks._search_run import run_search  # noqa: E402
from nasblocks._space import Space, load_space  # noqa: E402
from nasblocks._train import train  # noqa: E402


def pretrain(space: Space, path: Path, epochs: int, limit: int | None) -> float:
    """Train the space's base network, as a search trains it, on the search's training split;
    save it to ``path``."""
    resolution = space.proxy_resolution or DEFAULT_RESOLUTION
    data = load_dataset("digits", resolution=resolution, device=torch.device("cpu"), seed=0, limit=limit)
    torch.manual_seed(0)
    spec = space.base.with_vars(**space.proxy_vars, num_classes=data.num_classes)
    model = nasblocks.build(spec.with_input((3, resolution, resolution)))
    accuracy = train(model, data, epochs=epochs, seed=0, **PROXY_RECIPE).accuracy
    torch.save(model.state_dict(), path)
    return accuracy


def candidate(space: Space, params: dict[str, Any], width: float | None) -> str:
    base = space.default_params()
    names = params.keys() | base.keys()  # a choice of another case draws other choices than the base's
    changed = f"{sum(params.get(name) != base.get(name) for name in names)} of {len(names)} choices off the base"
    return changed if width is None else f"width {width}, {changed}"


def main() -> None:
    parser = _paired_search.parser(__doc__, 1, "per trial")
    parser.add_argument("--pretrain-epochs", type=int, default=6)
    args = parser.parse_args()
    given = _paired_search.settings(args)
    space = load_space(args.space)
    with tempfile.TemporaryDirectory() as folder:
        weights = Path(folder) / f"{space.name}-digits.pt"
        accuracy = pretrain(space, weights, args.pretrain_epochs, args.limit)
        print(f"weights: {space.base.name} trained {args.pretrain_epochs} epochs on digits, accuracy {accuracy:.3f}")
        quiet = Console(file=io.StringIO())
        scratch = run_search(given, study="scratch", root=Path(folder), console=quiet).study
        started = run_search({**given, "weights": str(weights)}, study="weights", root=Path(folder),
                             console=quiet).study
    print(f"{'trial':>5}  {'candidate':<50} {'whole/part/fresh':>16}  {'scratch':>7}  {'weights':>7}")
    pairs = []
    for a, b in zip(scratch.trials, started.trials):
        assert a.params == b.params, "the two searches drew different candidates"
        if "accuracy" not in a.user_attrs or "accuracy" not in b.user_attrs:  # rejected or pruned
            continue
        took = b.user_attrs["inherited"]
        pairs.append((a.user_attrs["accuracy"], b.user_attrs["accuracy"]))
        print(f"{a.number:>5}  {candidate(space, a.params, a.user_attrs.get('width')):<50} "
              f"{took['whole']:>5}/{took['part']}/{took['fresh']:<4}  {pairs[-1][0]:>7.3f}  {pairs[-1][1]:>7.3f}")
    if pairs:
        print(f"mean over {len(pairs)} trials: scratch {statistics.mean(p[0] for p in pairs):.3f}, "
              f"from weights {statistics.mean(p[1] for p in pairs):.3f}")


if __name__ == "__main__":
    main()
