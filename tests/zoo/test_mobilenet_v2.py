"""specs/mobilenet_v2.yaml equals torchvision's mobilenet_v2, weight for weight, at every width."""

from __future__ import annotations

import pytest
import torch
import torchvision
from _reference import assert_same_network, counted_cost

import nasblocks

# torchvision's width multipliers with published figures; REFERENCE.md's params and multiply-adds
# of each are asserted, by zoo name, in tests/zoo/test_zoo_names.py
WIDTHS = (0.5, 0.75, 1.0, 1.4)


@pytest.mark.parametrize("width", WIDTHS)
def test_loads_torchvision_weights_and_gives_its_outputs(width: float) -> None:
    reference = torchvision.models.mobilenet_v2(width_mult=width)
    assert_same_network(nasblocks.load("specs/mobilenet_v2.yaml", width=width), reference)


def test_class_count_and_resolution_variants() -> None:
    reference = torchvision.models.mobilenet_v2(num_classes=10)
    spec = nasblocks.load("mobilenet_v2", num_classes=10, input=(3, 96, 96))
    assert_same_network(spec, reference)
    assert nasblocks.cost(spec).params == sum(p.numel() for p in reference.parameters())


def test_cost_equals_an_independent_counter_on_the_built_module() -> None:
    spec = nasblocks.load("mobilenet_v2", width=0.75, input=(3, 160, 160))
    cost = nasblocks.cost(spec)
    assert (cost.params, cost.macs) == counted_cost(spec)
    assert cost.macs == 107_295_200


def test_aliases_set_the_width() -> None:
    assert nasblocks.cost("mobilenet_v2_140") == nasblocks.cost(nasblocks.load("mobilenet_v2", width=1.4))
    assert nasblocks.load("mobilenet_v2_050").vars["width"] == 0.5


def test_the_spec_holds_the_paper_table_as_data() -> None:
    spec = nasblocks.load("mobilenet_v2")
    assert spec.vars["stages"] == [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2],
                                   [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]
    names = {n.target.split(".")[1] for n in nasblocks.expand(spec) if n.target and n.target.startswith("features.")}
    assert names == {str(i) for i in range(19)}  # stem, 17 inverted residuals, last conv


def test_code_is_straight_line_and_exports() -> None:
    spec = nasblocks.load("mobilenet_v2", width=0.5, input=(3, 64, 64))
    model = nasblocks.build(spec).eval()
    assert isinstance(model, torch.fx.GraphModule)
    code = model.code
    assert "def forward(self, x)" in code and "for " not in code and "while " not in code
    assert code.count("\n") > len(nasblocks.expand(spec)) // 2
    x = torch.randn(1, 3, 64, 64)
    exported = torch.export.export(model, (x,))
    assert torch.allclose(exported.module()(x), model(x))
