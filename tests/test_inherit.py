"""A network of a search space starts from a weights file of the space's base network as far as it
fits (``_inherit``): each module matched to the one at the same place of the spec (inside a block,
the same item of the block), tensors of the same shape whole, of another shape their overlap
(leading channels, centred kernels, group by group, and around a grouped conv the channels it
keeps, through a concat each input's channels at its offset in the file's), the classifier only
whole; everything else keeps the initialisation drawn from the seed."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

import nasblocks
from nasblocks._expand import expand
from nasblocks._fragments import CACHE
from nasblocks._inherit import Inherited, Start, _key, counterparts, inherit
from nasblocks._search import build_proxy
from nasblocks._space import load_space
from nasblocks._study import standalone, write_spec
from nasblocks._weights import Pretrained
from nasblocks._weights_spec import read_weights_spec
from nasblocks.errors import StudyError

INPUT = (3, 32, 32)
FIRST_DW = "features.1.conv.0.0.weight"  # MobileNetV2's first depthwise 3x3: [32 * width, 1, k, k]


def mobilenet(**values: Any) -> nasblocks.Spec:
    return nasblocks.load("mobilenet_v2", input=INPUT, **values)


def state(spec: nasblocks.Spec, seed: int = 1) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return nasblocks.build(spec).state_dict()


def counted(tensors: Any) -> int:
    """The tensors ``inherit`` counts: not batch norm's step counters."""
    return sum(tensor.is_floating_point() for tensor in tensors)


def started(spec: nasblocks.Spec, file: dict[str, torch.Tensor],
            base: nasblocks.Spec | None = None) -> tuple[dict[str, torch.Tensor], Inherited]:
    """The network's tensors after starting from ``file`` (of ``base``: the same network unless
    given), drawn from seed 0 first."""
    graph = expand(spec)
    renamed = counterparts(graph, expand(base or spec))
    module, inherited = build_proxy(graph, 0, Start(Pretrained("file.pt", "0" * 64, file), renamed))
    assert inherited is not None
    return module.state_dict(), inherited


def test_the_file_s_own_network_takes_every_tensor_whole() -> None:
    file = state(mobilenet())
    mine, inherited = started(mobilenet(), file)
    assert inherited == Inherited(whole=counted(file.values()), part=0, fresh=0)
    assert all(torch.equal(mine[key], file[key]) for key in file)


def test_a_narrower_network_takes_the_leading_channels() -> None:
    file = state(mobilenet())
    file["features.1.conv.0.1.running_var"].uniform_(0.5, 2.0)  # not the ones a fresh batch norm holds
    mine, inherited = started(mobilenet(width=0.5), file)
    assert torch.equal(mine[FIRST_DW], file[FIRST_DW][:16])
    pointwise = "features.1.conv.1.weight"  # [16 * width, 32 * width, 1, 1]: both channel axes cut
    assert mine[pointwise].shape == (8, 16, 1, 1)
    assert torch.equal(mine[pointwise], file[pointwise][:8, :16])
    assert torch.equal(mine["features.1.conv.0.1.running_var"], file["features.1.conv.0.1.running_var"][:16])
    # MobileNetV2 keeps its last 1280 channels below width 1: the classifier fits whole
    assert torch.equal(mine["classifier.1.weight"], file["classifier.1.weight"])
    assert inherited.fresh == 0 and inherited.part > 100


def test_a_wider_network_keeps_its_own_initialisation_beyond_the_file_s_channels() -> None:
    file = state(mobilenet(width=0.5))
    mine, _ = started(mobilenet(), file)
    fresh = state(mobilenet(), seed=0)
    assert torch.equal(mine[FIRST_DW][:16], file[FIRST_DW])
    assert torch.equal(mine[FIRST_DW][16:], fresh[FIRST_DW][16:])


def test_kernels_of_another_size_share_their_centres() -> None:
    threes, fives = mobilenet(), mobilenet(kernels=[5] * 7)
    smaller, _ = started(threes, state(fives))
    assert torch.equal(smaller[FIRST_DW], state(fives)[FIRST_DW][:, :, 1:4, 1:4])
    larger, _ = started(fives, state(threes))
    assert torch.equal(larger[FIRST_DW][:, :, 1:4, 1:4], state(threes)[FIRST_DW])
    border = torch.ones(5, 5, dtype=torch.bool)
    border[1:4, 1:4] = False
    assert torch.equal(larger[FIRST_DW][:, :, border], state(fives, seed=0)[FIRST_DW][:, :, border])


@pytest.mark.parametrize("classes, taken", [(1000, True), (10, False)])
def test_the_classifier_is_taken_only_for_the_same_classes(classes: int, taken: bool) -> None:
    file = drawn(state(mobilenet()))  # as built, the classifier's bias is zeros, which a fresh one equals
    mine, inherited = started(mobilenet(num_classes=classes), file)
    assert torch.equal(mine["classifier.1.bias"][:10], file["classifier.1.bias"][:10]) is taken
    assert inherited.fresh == (0 if taken else 2)


def test_a_classifier_of_the_same_classes_takes_its_leading_inputs() -> None:
    """MobileNetV2 1.4 ends in 1792 channels, 1.0 in 1280."""
    file = state(mobilenet(width=1.4, num_classes=10))
    mine, _ = started(mobilenet(num_classes=10), file, base=mobilenet(width=1.4, num_classes=10))
    assert torch.equal(mine["classifier.1.weight"], file["classifier.1.weight"][:, :1280])
    assert torch.equal(mine["classifier.1.bias"], file["classifier.1.bias"])


def test_a_classifier_behind_ops_without_weights_is_found() -> None:
    """SqueezeNet classifies with a 1x1 conv, then a ReLU, a pooling and a flatten."""
    spec = nasblocks.load("squeezenet1_1", input=(3, 64, 64), num_classes=10)
    file = state(nasblocks.load("squeezenet1_1", input=(3, 64, 64)))
    mine, inherited = started(spec, file)
    assert inherited.fresh == 2 and inherited.part == 0
    assert not torch.equal(mine["classifier.1.weight"], file["classifier.1.weight"][:10])


def test_tensors_the_file_lacks_or_has_at_another_rank_stay_fresh() -> None:
    file = {key: value for key, value in state(mobilenet()).items() if not key.startswith("features.2.")}
    file[FIRST_DW] = file[FIRST_DW].flatten()
    module = nasblocks.build(mobilenet())
    inherited = inherit(module, expand(mobilenet()), file)
    lacking = counted(v for key, v in module.state_dict().items() if key.startswith("features.2."))
    assert inherited.fresh == lacking + 1 and inherited.whole == counted(file.values()) - 1


def stage_depths(**depths: int) -> nasblocks.Spec:
    """A network of the mobilenet_v2 space: the base network with other repeats per stage."""
    space = load_space("mobilenet_v2")
    return space.spec(depth_params(**depths)).with_input(INPUT)


def depth_params(**depths: int) -> dict[str, Any]:
    space = load_space("mobilenet_v2")
    return {**space.default_params(), **{f"stages[{row[-1]}].n": n for row, n in depths.items()}}


def test_a_stage_with_fewer_repeats_shifts_the_names_but_not_the_counterparts() -> None:
    """Stage 2 of the base has blocks features.4-6; with two repeats, features.6 is stage 3's first
    block, which is features.7 in the file."""
    file = state(mobilenet())
    mine, inherited = started(stage_depths(row2=2), file, base=mobilenet())
    assert inherited == Inherited(whole=counted(mine.values()), part=0, fresh=0)
    for key in mine:
        if key.startswith("features.6."):
            assert torch.equal(mine[key], file[key.replace("features.6.", "features.7.", 1)]), key
    assert torch.equal(mine["features.17.0.weight"], file["features.18.0.weight"])  # the last 1x1 conv


def test_a_repeat_the_file_lacks_stays_fresh_and_the_blocks_after_it_find_theirs() -> None:
    file = state(mobilenet())
    spec = stage_depths(row2=4)  # features.4-7: the fourth repeat, features.7, is new
    mine, inherited = started(spec, file, base=mobilenet())
    fresh = state(spec, seed=0)
    new = [key for key in mine if key.startswith("features.7.")]
    assert inherited.fresh == counted(mine[key] for key in new) and inherited.part == 0
    assert all(torch.equal(mine[key], fresh[key]) for key in new)
    assert torch.equal(mine["features.8.conv.0.0.weight"], file["features.7.conv.0.0.weight"])


def test_a_block_at_another_item_has_no_counterpart_though_it_has_the_same_name() -> None:
    """ResNet's stages hold a basic-block item and a bottleneck item, one skipped by its ``if``: a
    trial's basic block layer1.0 is not the base's bottleneck layer1.0, whose tensors it would cut."""
    space = load_space("resnet")
    basic = expand(space.spec({**space.default_params(), "block": "basic"}))
    renamed = counterparts(basic, expand(space.base))
    blocks = [name for name in basic.places if re.fullmatch(r"layer\d\.\d+", name)]
    assert len(blocks) == 16 and all(renamed[name] is None for name in blocks)
    assert not {"conv1", "bn1", "layer1", "fc"} & set(renamed)  # the same items as the base's


def test_a_file_of_another_point_is_matched_to_that_point_s_places(tmp_path: Path) -> None:
    """search --weights-spec: the file's network has two repeats in stage 2 (features.4-5), so its
    stage 3 starts at features.6. The base network's stage 3 (from features.7) takes the file's,
    and the third repeat of stage 2, which the file lacks, stays fresh. The file's spec is read
    back from a file written as a trial writes its own."""
    space = load_space("mobilenet_v2")
    path = tmp_path / "shallow.yaml"
    write_spec(path, standalone(stage_depths(row2=2), "shallow", space.vars_for(depth_params(row2=2)), "a test"), [])
    shallow, _ = read_weights_spec(str(path), space.base, space.name, None, "")
    file = state(shallow.with_input(INPUT))
    mine, inherited = started(mobilenet(), file, base=shallow)
    new = [key for key in mine if key.startswith("features.6.")]
    assert inherited.fresh == counted(mine[key] for key in new) and inherited.part == 0
    assert all(torch.equal(mine[key], state(mobilenet(), seed=0)[key]) for key in new)
    stage3 = [key for key in mine if re.match(r"features\.(7|8|9)\.", key)]
    assert len(stage3) > 30
    for key in stage3:
        theirs = re.sub(r"^features\.(\d+)", lambda m: f"features.{int(m[1]) - 1}", key)
        assert torch.equal(mine[key], file[theirs]), key
    assert torch.equal(mine["features.18.0.weight"], file["features.17.0.weight"])  # the last 1x1 conv


def test_resnet18_s_file_is_a_point_of_the_resnet_space_whose_basic_blocks_find_theirs() -> None:
    """The resnet space's base is ResNet-50: its bottlenecks sit at another item than the basic
    blocks (no counterpart, above); matched to ResNet-18's places, every basic block finds one."""
    space = load_space("resnet")
    resnet18, record = read_weights_spec("resnet18", space.base, space.name, None, "")
    assert record["path"] == "resnet18" and len(record["sha256"]) == 16
    depths = {f"layers[{i}]": n for i, n in enumerate([2, 3, 4, 2])}
    deeper = expand(space.spec({**space.default_params(), "block": "basic", **depths}))
    renamed = counterparts(deeper, expand(resnet18))
    assert renamed == {"layer2.2": None, "layer3.2": None, "layer3.3": None}


def test_a_spec_of_another_structure_is_refused_naming_both_files() -> None:
    space, other = load_space("resnet"), nasblocks.load("mobilenet_v2")
    with pytest.raises(StudyError) as refused:
        read_weights_spec("mobilenet_v2", space.base, space.name, None, "")
    assert str(refused.value) == (
        f"--weights-spec mobilenet_v2: not a network of space 'resnet': network[0] ({other.file}:"
        f"{other.document['network'].line_of(0)}) is not the base spec's ({space.base.file}:"
        f"{space.base.document['network'].line_of(0)}); give the spec of the --weights file's network as this "
        "space writes it (a trial's spec, or study retrain -o)")


def test_the_places_are_the_same_whether_blocks_expand_or_come_from_the_fragment_cache() -> None:
    """Pricing replays a block it has expanded before from the cache, without walking its body:
    the layers inside it are placed all the same."""
    spec = stage_depths(row2=2)
    CACHE.clear()
    cold = expand(spec)
    assert CACHE  # the blocks the cold expansion walked are what the warm one replays
    warm = expand(spec)
    paths: dict[Any, str] = {}
    places = [{name: _key(where, paths) for name, where in graph.placed} for graph in (cold, warm)]
    assert len(places[0]) > 100 and places[0] == places[1]
    calls, path, _ = places[1]["features.5.conv.1.0"]  # the depthwise conv of row 2's second block
    assert [call for call, _ in calls] == ["network[0].seq[1].foreach[2].do[0].inverted_residual",
                                           "blocks.inverted_residual.body[0].add[0].seq[1].conv_bn_act"]
    assert calls[0][1] == (1,) and path == "blocks.conv_bn_act.body[0].conv"


def stages(first_expansion: int) -> nasblocks.Spec:
    """MobileNetV2 whose first block expands its input ``first_expansion`` times (1 in the paper)."""
    table = [[first_expansion, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1],
             [6, 160, 3, 2], [6, 320, 1, 1]]
    return mobilenet(stages=table)


def test_an_inverted_residual_without_its_expansion_conv_takes_the_file_s_depthwise_conv() -> None:
    """Without its expansion (its ``if`` false) the block's depthwise conv is conv.0, not conv.1:
    matched by its item in the block, it takes the depthwise conv's tensors, not the 1x1
    expansion's of the same rank. Only the moved layers are renamed, not what they hold."""
    file = state(stages(6))
    assert counterparts(expand(stages(1)), expand(stages(6))) == {
        "features.1.conv.0": "features.1.conv.1", "features.1.conv.1": "features.1.conv.2",
        "features.1.conv.2": "features.1.conv.3"}
    mine, inherited = started(stages(1), file, base=stages(6))
    assert torch.equal(mine["features.1.conv.0.0.weight"], file["features.1.conv.1.0.weight"][:32])
    assert torch.equal(mine["features.1.conv.1.weight"], file["features.1.conv.2.weight"][:, :32])
    assert torch.equal(mine["features.1.conv.2.running_mean"], file["features.1.conv.3.running_mean"])
    assert inherited.fresh == 0


def test_an_expansion_conv_the_file_s_block_lacks_starts_fresh() -> None:
    file = state(stages(1))
    mine, inherited = started(stages(6), file, base=stages(1))
    fresh = state(stages(6), seed=0)
    expansion = [key for key in mine if key.startswith("features.1.conv.0.")]
    assert all(torch.equal(mine[key], fresh[key]) for key in expansion)
    assert inherited.fresh == counted(mine[key] for key in expansion)
    assert torch.equal(mine["features.1.conv.1.0.weight"][:32], file["features.1.conv.0.0.weight"])


def test_a_pre_activation_block_takes_its_norm_only_from_the_same_item_of_the_block() -> None:
    """preact_block has two items: the block that projects its shortcut and the one that does not.
    Stage 1's first basic block keeps its 64 channels, a bottleneck's widens them to 256: the
    basic block's layers sit in the other item, and start fresh, though the bottleneck's of the
    same names (norm1, conv1, ...) have tensors of the same ranks. Stage 2's first blocks both
    project: the basic block's norm1 takes the bottleneck's."""
    basic, bottleneck = (nasblocks.load("resnetv2", input=INPUT, layers=[1, 1, 1, 1], block=block)
                         for block in ("basic", "bottleneck"))
    file = state(bottleneck)
    mine, _ = started(basic, file, base=bottleneck)
    fresh = state(basic, seed=0)
    first = [key for key in mine if key.startswith("stages.0.blocks.0.")]
    assert len(first) == 12 and all(torch.equal(mine[key], fresh[key]) for key in first)
    assert torch.equal(mine["stages.1.blocks.0.norm1.weight"], file["stages.1.blocks.0.norm1.weight"][:64])


def resnext(groups: int, width_per_group: int) -> nasblocks.Spec:
    return nasblocks.load("resnet", input=INPUT, depth=50, groups=groups, width_per_group=width_per_group)


GROUPED = "layer1.0.conv2.weight"  # a 3x3 conv of 4 groups: [width, width / 4, 3, 3]


def test_a_grouped_conv_takes_its_overlap_group_by_group() -> None:
    """ResNeXt with 4 groups of 16 channels starts from one with 4 groups of 32: each group takes
    the leading 16 filters of the file's group, over the leading 16 of its inputs, not the file's
    first 64 filters (its first two groups, which read other inputs)."""
    file = state(resnext(4, 32))
    mine, _ = started(resnext(4, 16), file, base=resnext(4, 32))
    assert mine[GROUPED].shape == (64, 16, 3, 3) and file[GROUPED].shape == (128, 32, 3, 3)
    assert torch.equal(mine[GROUPED].unflatten(0, (4, 16)), file[GROUPED].unflatten(0, (4, 32))[:, :16, :16])


def test_a_grouped_conv_of_other_groups_than_the_file_s_starts_fresh() -> None:
    """ResNet-50's conv2 is one group of 64 filters reading all 64 inputs; no filter of it reads
    only the 16 inputs of a group of 4."""
    file = state(resnext(1, 64))
    mine, _ = started(resnext(4, 16), file, base=resnext(1, 64))
    assert torch.equal(mine[GROUPED], state(resnext(4, 16), seed=0)[GROUPED])
    assert torch.equal(mine["layer1.0.conv1.weight"], file["layer1.0.conv1.weight"])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_a_half_precision_file_starts_a_float_network(dtype: torch.dtype) -> None:
    file = {key: value.to(dtype) if value.is_floating_point() else value for key, value in state(mobilenet()).items()}
    mine, inherited = started(mobilenet(width=0.5), file)
    assert inherited.fresh == 0
    assert mine[FIRST_DW].dtype == torch.float32
    assert torch.equal(mine[FIRST_DW], file[FIRST_DW][:16].float())  # in part
    assert torch.equal(mine["classifier.1.weight"], file["classifier.1.weight"].float())  # whole


def drawn(file: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``file`` with every floating tensor drawn at random: a batch norm as built holds ones and
    zeros, which any channels of it equal."""
    torch.manual_seed(2)
    return {key: torch.rand_like(value) if value.is_floating_point() else value for key, value in file.items()}


def per_group(groups: int, mine: int, theirs: int) -> torch.Tensor:
    """The file's channels that group j's leading channels take: the leading ones of its group j."""
    return torch.arange(theirs).view(groups, -1)[:, :mine // groups].flatten()


def test_the_layers_around_a_grouped_conv_take_the_channels_it_gives_and_reads() -> None:
    """ResNeXt 4×8d from 4×16d: conv2 (4 groups, 64 channels in the file, 32 here) keeps the first
    8 filters of each of the file's groups of 16. Its batch norm takes the statistics of those
    channels, conv3 reads them, and conv1 and its norm make the inputs each group was trained
    on, not the file's first 32 channels (its first two groups)."""
    file = drawn(state(resnext(4, 16)))
    mine, inherited = started(resnext(4, 8), file, base=resnext(4, 16))
    taken = per_group(4, 32, 64)
    assert taken.tolist()[7:10] == [7, 16, 17]
    for name in ("weight", "bias", "running_mean", "running_var"):
        assert torch.equal(mine[f"layer1.0.bn2.{name}"], file[f"layer1.0.bn2.{name}"][taken]), name
        assert torch.equal(mine[f"layer1.0.bn1.{name}"], file[f"layer1.0.bn1.{name}"][taken]), name
    assert torch.equal(mine["layer1.0.conv3.weight"], file["layer1.0.conv3.weight"][:, taken])
    assert torch.equal(mine["layer1.0.conv1.weight"], file["layer1.0.conv1.weight"][taken])
    assert torch.equal(mine[GROUPED], file[GROUPED][taken, :8])
    assert inherited.fresh == 0


RESIDUAL = """imports: [blocks.yaml]
input: [3, 8, 8]
vars: {width: 16, mix_groups: 4}
network:
  - conv: {out: width, kernel: 1}
    name: stem
  - bn: {}
    name: stem_bn
  - add:                # stem_bn + branch(stem_bn): one choice of channels for both sides
      - seq: []
      - seq:
          - conv: {out: width, kernel: 3, groups: 4}
            name: conv
          - bn: {}
            name: bn
        name: branch
  - conv: {out: width, kernel: 3, groups: mix_groups}
    name: mix
  - bn: {}
    name: mix_bn
  - se: {squeeze: 4}    # mean, fc1, relu, fc2, sigmoid, and mix_bn's output scaled by it
    name: se
  - mean: {}
  - linear: {out: 10}
    name: fc
"""


@pytest.mark.parametrize("mix_groups", [4, 2])
def test_a_residual_ties_the_channels_of_both_its_sides(write_spec: Callable[..., Path], mix_groups: int) -> None:
    """Width 8 from 16: the branch's conv of 4 groups reads and gives the add's channels. The
    conv after the add of 4 groups too wants the same of them, and the stem, both batch norms and
    the branch take them; with 2 groups it wants others, and the whole residual keeps the leading
    channels (the branch's conv still its own groups). The channels the conv after the add gives
    go on through its batch norm, squeeze-and-excitation (its squeeze conv's columns, its excite
    conv's rows) and the mean to the linear layer's columns."""
    path = write_spec(RESIDUAL)
    narrow = nasblocks.load(path, width=8, mix_groups=mix_groups)
    file = drawn(state(nasblocks.load(path, mix_groups=mix_groups)))
    mine, inherited = started(narrow, file, base=nasblocks.load(path, mix_groups=mix_groups))
    residual = per_group(4, 8, 16) if mix_groups == 4 else torch.arange(8)
    assert torch.equal(mine["stem.weight"], file["stem.weight"][residual])
    for bn in ("stem_bn", "2.branch.bn"):
        assert torch.equal(mine[f"{bn}.running_mean"], file[f"{bn}.running_mean"][residual]), bn
    assert torch.equal(mine["2.branch.conv.weight"], file["2.branch.conv.weight"][per_group(4, 8, 16), :2])
    mixed = per_group(mix_groups, 8, 16)
    assert torch.equal(mine["mix_bn.weight"], file["mix_bn.weight"][mixed])
    assert torch.equal(mine["se.fc1.weight"], file["se.fc1.weight"][:, mixed])
    assert torch.equal(mine["se.fc2.bias"], file["se.fc2.bias"][mixed])
    assert torch.equal(mine["fc.weight"], file["fc.weight"][:, mixed])
    assert inherited.fresh == 0


def test_resnext50_narrowed_keeps_each_channel_s_weights_together() -> None:
    """ResNeXt-50 32×4d from the zoo as the file, 32×2d (the resnet space's width_per_group) as
    the trial: in every bottleneck, the 32 groups of conv2 keep the first 2 of the file's 4
    channels each, and conv1, bn1, bn2 and conv3 take exactly those channels; the blocks' outputs
    (conv3's rows, bn3, the shortcut) are as wide as the file's, and taken whole."""
    file = drawn(state(nasblocks.load("resnext50_32x4d", input=INPUT)))
    narrow = nasblocks.load("resnext50_32x4d", input=INPUT, width_per_group=2)
    mine, inherited = started(narrow, file, base=nasblocks.load("resnext50_32x4d", input=INPUT))
    blocks = sorted({key.rpartition(".conv2")[0] for key in mine if key.endswith(".conv2.weight")})
    assert len(blocks) == 16
    for block in blocks:
        width = mine[f"{block}.bn2.weight"].shape[0]
        taken = per_group(32, width, 2 * width)
        for key in (f"{block}.conv1.weight", f"{block}.bn1.running_var", f"{block}.bn2.bias"):
            assert torch.equal(mine[key], file[key][taken]), key
        assert torch.equal(mine[f"{block}.conv3.weight"], file[f"{block}.conv3.weight"][:, taken]), block
        assert torch.equal(mine[f"{block}.bn3.weight"], file[f"{block}.bn3.weight"]), block
    assert inherited.fresh == 0


BRANCHES = ("c1x1", "c3x3red", "c3x3", "c5x5red", "c5x5", "pool_proj")


def googlenet(factorisation: str = "single", **modules: Sequence[int]) -> nasblocks.Spec:
    """A network of the googlenet space: the base network with another factorisation of the "5×5"
    branch, and other branch widths (Table 1's columns) in the modules given, ``stage3_0`` for
    inception3a."""
    space = load_space("googlenet")
    params = {**space.default_params(), "factorisation": factorisation}
    for module, widths in modules.items():
        stage, _, k = module.rpartition("_")
        params.update({f"{stage}[{k}].{column}": width for column, width in zip(BRANCHES, widths)})
    return space.spec(params).with_input(INPUT)


def branches(*parts: tuple[int, int]) -> torch.Tensor:
    """The file's channels a concat takes: each branch's ``(offset in the file, width)``."""
    return torch.cat([torch.arange(start, start + width) for start, width in parts])


def test_googlenet_s_own_widths_take_every_tensor_whole() -> None:
    file = state(googlenet())
    _, inherited = started(googlenet(), file)
    assert inherited == Inherited(whole=counted(file.values()), part=0, fresh=0)


@pytest.mark.parametrize("factorisation, fresh", [("single", 0), ("double3x3", 90)])
def test_a_concat_of_narrower_branches_takes_each_branch_s_channels_in_the_file(factorisation: str,
                                                                                fresh: int) -> None:
    """inception3a with branches of 32, 96, 16 and 24 channels (the file's 64, 128, 32, 32)
    concatenates the file's channels 0-31, 64-159, 192-207 and 224-247, not its first 168: every
    1x1 conv of inception3b reads those columns, branch4's through its max pool. So does every
    1x1 conv of inception4a of inception3b's (narrowed too), through maxpool3 as well; inception4b
    reads inception4a's channels, as wide as the file's, whole. Factorised into two 3x3 convs,
    which the file's single conv is no counterpart of (fresh: 2 convs and their batch norms in 9
    modules), branch 3's width in the file is what the file's readers leave of the others'."""
    file = drawn(state(googlenet()))
    narrow = googlenet(factorisation, stage3_0=[32, 96, 96, 16, 16, 24], stage3_1=[96, 128, 160, 32, 64, 48])
    mine, inherited = started(narrow, file, base=googlenet())
    read = {"inception3b": branches((0, 32), (64, 96), (192, 16), (224, 24)),
            "inception4a": branches((0, 96), (128, 160), (320, 64), (416, 48))}
    for module, taken in read.items():
        for conv in ("branch1", "branch2.0", "branch3.0", "branch4.1"):
            key = f"{module}.{conv}.conv.weight"
            rows = mine[key].shape[0]
            assert torch.equal(mine[key], file[key][:rows, taken]), key
    assert torch.equal(mine["inception3a.branch2.1.conv.weight"], file["inception3a.branch2.1.conv.weight"][:96])
    assert torch.equal(mine["inception4b.branch1.conv.weight"], file["inception4b.branch1.conv.weight"])
    assert inherited.fresh == fresh


CONCAT = """input: [3, 8, 8]
vars: {width: 16}
network:
  - conv: {out: 16, kernel: 1}
    name: stem
  - concat:
      - conv: {out: width, kernel: 1}
        name: plain
      - concat:             # a concat inside a concat: its channels at its offset in the outer one
          - conv: {out: width, kernel: 3, groups: 4}
            name: grouped
          - conv: {out: 8, kernel: 1}
            name: fixed
        name: inner
  - bn: {}
    name: bn
  - mean: {}
  - linear: {out: 10}
    name: fc
"""


def test_a_concat_gives_its_inputs_own_channels_to_the_layers_after_it(write_spec: Callable[..., Path]) -> None:
    """Width 8 from 16: the outer concat's channels are plain's leading 8 (the file's 0-7), then
    the inner concat's from the file's channel 16: the grouped conv's first 2 of each of its
    file's groups of 4 (16 + 0, 1, 4, 5, ...), then fixed's 8, from the file's channel 16 + 16.
    The batch norm after the concat takes the statistics of those channels, and the linear layer
    (through the mean) reads those columns."""
    path = write_spec(CONCAT)
    file = drawn(state(nasblocks.load(path)))
    mine, inherited = started(nasblocks.load(path, width=8), file, base=nasblocks.load(path))
    taken = torch.cat([torch.arange(8), 16 + per_group(4, 8, 16), torch.arange(32, 40)])
    for name in ("weight", "bias", "running_mean", "running_var"):
        assert torch.equal(mine[f"bn.{name}"], file[f"bn.{name}"][taken]), name
    assert torch.equal(mine["fc.weight"], file["fc.weight"][:, taken])
    assert torch.equal(mine["1.inner.grouped.weight"], file["1.inner.grouped.weight"][per_group(4, 8, 16), :4])
    assert inherited.fresh == 0
