"""specs/vgg.yaml equals torchvision's vgg11 … vgg19_bn weight for weight."""

from __future__ import annotations

import pytest
import torch
import torchvision
from _reference import assert_same_network

import nasblocks
from nasblocks import SpecError

# the adaptive pool brings any map to 7×7, so a small input exercises the whole network
SMALL = (3, 64, 64)


@pytest.fixture(scope="module")
def vgg11_bn():
    """Drawing VGG's 132 M random weights takes a second: one reference serves two tests."""
    torch.manual_seed(0)
    return torchvision.models.vgg11_bn()


def test_vgg11_equals_torchvision():
    assert_same_network(nasblocks.load("vgg11", input=SMALL), torchvision.models.vgg11())


def test_vgg11_bn_equals_torchvision(vgg11_bn):
    assert_same_network(nasblocks.load("vgg11_bn", input=SMALL), vgg11_bn)


def test_ten_classes_equal_torchvision(vgg11_bn):
    # torchvision's 10-class network holding vgg11_bn's tensors (no copy, no second draw of the
    # 120 M classifier weights) and a fresh 10-way last layer
    with torch.device("meta"):
        reference = torchvision.models.vgg11_bn(num_classes=10)
    trunk = {k: v for k, v in vgg11_bn.state_dict().items() if not k.startswith("classifier.6.")}
    missing, _ = reference.load_state_dict(trunk, strict=False, assign=True)
    assert missing == ["classifier.6.weight", "classifier.6.bias"]
    reference.classifier[6] = torch.nn.Linear(4096, 10)
    assert_same_network(nasblocks.load("vgg11_bn", input=SMALL, num_classes=10), reference)


@pytest.mark.parametrize("name", ["vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"])
def test_deeper_networks_equal_torchvision(name):
    assert_same_network(nasblocks.load(name, input=SMALL), getattr(torchvision.models, name)())


def test_features_count_every_conv_norm_relu_and_pool():
    # torchvision's Sequential: config A with BN is 8 × (conv, bn, relu) + 5 pools = 29 modules
    with torch.device("meta"):
        model = nasblocks.build(nasblocks.load("vgg11_bn"))
    kinds = [type(m).__name__ for m in model.get_submodule("features").children()]
    assert len(kinds) == 29
    assert kinds[:8] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d",
                         "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]
    assert [type(m).__name__ for m in model.get_submodule("classifier").children()] == [
        "Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]


def test_the_three_fully_connected_layers_hold_123_6_m_of_vgg16s_parameters():
    graph = nasblocks.expand(nasblocks.load("vgg16"))
    fc = sum(n.params for n in graph if n.op == "linear")
    assert fc == (25088 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000) == 123_642_856


def test_depth_outside_the_paper_names_the_allowed_ones():
    with pytest.raises(SpecError, match=r"vgg\.yaml:\d+: vars\.depth: var 'depth' must be one of "
                                        r"11, 13, 16, 19; got 12"):
        nasblocks.load("vgg", depth=12)
