"""Structural choices of the shipped spaces: GoogLeNet's "5×5" branch factorisation and
ShuffleNet's unit type per stage are sampled, bound and priced, and the zoo networks stay points."""

from __future__ import annotations

import optuna
import pytest

import nasblocks
from nasblocks._membership import check
from nasblocks._space import load_space

FACTORISATIONS = ("single", "double3x3", "asymmetric")
BRANCH3_KERNELS = {"single": {3, 5}, "double3x3": {3}, "asymmetric": {7}}   # after the 1×1 reduce


def samples(space, count: int, seed: int = 0) -> list[dict]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return [space.sample(study.ask()) for _ in range(count)]


def test_googlenet_space_samples_every_factorisation_and_binds_it() -> None:
    space = load_space("googlenet")
    assert space.domain("factorisation").choices == FACTORISATIONS
    drawn = samples(space, 12)
    assert {p["factorisation"] for p in drawn} == set(FACTORISATIONS)
    for params in drawn:
        graph = nasblocks.expand(space.spec(params))
        tails = [n for n in graph if n.op == "conv" and ".branch3." in n.scope and n.args["kernel"] != (1, 1)]
        assert {k for n in tails for k in n.args["kernel"]} - {1} <= BRANCH3_KERNELS[params["factorisation"]]
        assert len(tails) == 9 * (1 if params["factorisation"] == "single" else 2)   # one per module or two


def test_googlenet_is_the_single_point_of_the_space() -> None:
    result = check(load_space("googlenet"), nasblocks.load("googlenet"))
    assert result.ok, result.message
    assert result.params is not None and result.params["factorisation"] == "single"
    other = check(load_space("googlenet"), nasblocks.load("googlenet", factorisation="asymmetric"))
    assert other.ok and other.params is not None and other.params["factorisation"] == "asymmetric"


def test_shufflenet_space_mixes_unit_types_per_stage() -> None:
    space = load_space("shufflenet")
    assert [d.name for d in space.domains][:4] == ["v1_units[0]", "v1_units[1]", "v1_units[2]", "groups"]
    built_with_v1 = 0
    for params in samples(space, 24):
        try:
            graph = nasblocks.expand(space.spec(params))
        except nasblocks.SpecError as err:
            # a v1 unit's widths must divide by its groups, and a strided one must widen its input
            # (it adds out − in channels to the pooled input): such points are rejected unbuilt
            assert "must divide" in str(err) or ".conv.out: expected an integer >= 1" in str(err), str(err)
            continue
        for k in range(3):
            ops = {n.op for n in graph if n.scope.startswith(f"stage{k + 2}.")}
            assert ("split" in ops) != params[f"v1_units[{k}]"]   # v2 units split their input, v1 units do not
        built_with_v1 += any(params[f"v1_units[{k}]"] for k in range(3))
    assert built_with_v1 >= 3


@pytest.mark.parametrize("name", ["shufflenet", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x2_0"])
def test_zoo_shufflenet_v2s_are_points_of_the_mixed_space(name: str) -> None:
    result = check(load_space("shufflenet"), nasblocks.load(name))
    assert result.ok, result.message
    assert result.params is not None and not any(result.params[f"v1_units[{k}]"] for k in range(3))
