"""Search space files: loading with file:line errors, sampling names, binding, fitting a budget,
the smallest point, and `check` proving membership by comparing expanded graphs."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import torch
import yaml
from test_search_cli import run

import nasblocks
from nasblocks._cost import Cost
from nasblocks._fit import fit_width
from nasblocks._membership import check
from nasblocks._space import load_space, spaces_dir
from nasblocks._spec import specs_dir
from nasblocks._study import export_trial
from nasblocks.errors import SpecError


price = nasblocks.cost  # parameters and MACs, read off the graph


def write(tmp_path: Path, text: str, name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_mobilenet_v2_space_names_its_parameters_by_table_column() -> None:
    space = load_space("mobilenet_v2")
    names = [d.name for d in space.domains]
    assert names[:3] == ["width", "stages[1].t", "stages[1].n"]
    assert "kernels[6]" in names and "stages[0].t" not in names  # the first row is fixed
    assert space.fit == "width" and space.base.name == "mobilenet_v2"


def test_sampling_binds_the_base_spec() -> None:
    space = load_space("mobilenet_v2")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    trial = study.ask()
    params = space.sample(trial)
    assert params == pytest.approx(trial.params)  # stepped floats rounded to their step
    spec = space.spec(params)
    assert spec.vars["width"] == params["width"]
    assert spec.vars["stages"][2] == [params["stages[2].t"], 32, params["stages[2].n"], 2]
    assert spec.vars["kernels"][4] == params["kernels[4]"]


@pytest.mark.parametrize("name", ["mobilenet_v2", "mobilenet_v2_050", "mobilenet_v2_075", "mobilenet_v2_140"])
def test_space_check_finds_the_zoo_network_and_the_same_graph(name: str) -> None:
    result = check(load_space("mobilenet_v2"), nasblocks.load(name))
    assert result.ok, result.message
    assert result.params is not None and result.params["width"] == nasblocks.load(name).vars["width"]
    assert f"{name} is in space mobilenet_v2" in result.message and "same graph, 153 ops" in result.message


@pytest.mark.parametrize("high, status, shown", [
    (1.0, 0, "✓ mobilenet_v2 is in space space: width=1.0, stages[1].t=6"),
    (0.75, 1, "✗ mobilenet_v2 is not in space space: width = 1.0 is outside the domain 0.5..0.75\n"),
])
def test_space_check_without_a_spec_checks_the_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str], high: float, status: int,
                                                    shown: str) -> None:
    """A space of your own: `space check SPACE` says whether it holds the network it varies (it
    was a usage error, 'Missing argument')."""
    space = write(tmp_path, f"base: mobilenet_v2\ncolumns: {{stages: [t, c, n, s]}}\nvars:\n"
                            f"  width: {{low: 0.5, high: {high}}}{MBV2_STAGES}")
    out, _ = run(monkeypatch, capsys, "space", "check", str(space), status=status)
    assert out.startswith(shown)


def test_space_check_names_the_var_outside_a_domain() -> None:
    result = check(load_space("mobilenet_v2"), nasblocks.load("mobilenet_v2", kernels=[3, 3, 9, 3, 3, 3, 3]))
    assert not result.ok
    assert result.message == "mobilenet_v2 is not in space mobilenet_v2: kernels[2] = 9 is outside the domain {3, 5, 7}"


def test_space_check_names_table_cells_by_their_columns() -> None:
    stages = [list(row) for row in nasblocks.load("mobilenet_v2").vars["stages"]]
    stages[0][0], stages[3][2] = 6, 9  # the first row's fixed expansion, and a depth out of its range
    result = check(load_space("mobilenet_v2"), nasblocks.load("mobilenet_v2", stages=stages))
    assert result.message == ("mobilenet_v2 is not in space mobilenet_v2: stages[0].t = 6, but the space fixes it "
                              "at 1; stages[3].n = 9 is outside the domain 1..4")


def test_space_check_reports_the_first_differing_node(tmp_path: Path) -> None:
    # the same vars, but a network whose stem uses ReLU instead of ReLU6: not a point of the space
    text = (specs_dir() / "mobilenet_v2.yaml").read_text()
    changed = text.replace('stride: 2, act: relu6}', 'stride: 2, act: relu}', 1)
    assert changed != text
    spec = nasblocks.load(write(tmp_path, changed, "mobilenet_relu.yaml"))
    result = check(load_space("mobilenet_v2"), spec)
    assert not result.ok
    lines = result.message.splitlines()
    assert lines[0].endswith("node 2 differs:")
    assert lines[1].strip().startswith("spec:  %features_0_2 : 32×112×112 = act[fn=relu](%features_0_1)")
    assert "  # " in lines[1]  # where the node came from
    assert lines[2].strip().startswith("space: %features_0_2 : 32×112×112 = act[fn=relu6](%features_0_1)")


def test_space_check_compares_the_initialisation_too(tmp_path: Path) -> None:
    """The same layers drawn otherwise train from another start: not the same point."""
    result = check(load_space("resnet"), nasblocks.load("resnet50", zero_init_residual=True))
    assert not result.ok
    lines = result.message.splitlines()
    assert lines[0].endswith("se=False, node 11 differs:")
    assert lines[1].endswith("init={'fn': 'zeros', 'bias': None}") and lines[2].endswith("init=None")
    assert check(load_space("resnet"), nasblocks.load("seresnet50")).ok  # se implies timm's zeroed batch norms
    text = (specs_dir() / "mobilenet_v2.yaml").read_text()
    changed = text.replace("conv: {fn: kaiming_normal, mode: fan_out, bias: zeros}", "conv: {fn: zeros}", 1)
    assert changed != text
    result = check(load_space("mobilenet_v2"), nasblocks.load(write(tmp_path, changed, "mobilenet_v2.yaml")))
    assert not result.ok and "initialisation differs: {'conv': {'fn': 'zeros', 'bias': None}, 'linear'" in result.message


def test_fit_narrows_to_the_widest_width_within_budget() -> None:
    space = load_space("mobilenet_v2")
    params = {**space.default_params(), "width": 1.4}
    fitted = fit_width(space, params, price, lambda c: c.macs <= 300_000_000)
    assert fitted.feasible and fitted.sampled == 1.4 and fitted.fitted == 0.95
    assert fitted.cost == price(space.spec(fitted.params)) and fitted.cost.macs <= 300_000_000
    wider = price(space.spec({**params, "width": 1.0}))
    assert wider.macs > 300_000_000  # MobileNetV2 1.0 is 300,774,272 MACs: just over


def test_fit_rejects_what_overshoots_even_at_the_narrowest_width() -> None:
    space = load_space("mobilenet_v2")
    fitted = fit_width(space, {**space.default_params(), "width": 1.0}, price, lambda c: c.macs <= 20_000_000)
    assert not fitted.feasible and fitted.fitted is None
    assert fitted.params["width"] == 0.35 and fitted.cost.macs > 20_000_000


def test_without_fitting_an_overshoot_is_only_reported() -> None:
    space = load_space("mobilenet_v2")
    fitted = fit_width(space, space.default_params(), price, lambda c: c.macs <= 300_000_000, fit=False)
    assert not fitted.feasible and fitted.params["width"] == 1.0 and fitted.cost.macs == 300_774_272


def test_smallest_point_takes_the_low_end_of_every_domain() -> None:
    params, cost = load_space("mobilenet_v2").smallest(price)
    assert params["width"] == 0.35 and params["stages[3].n"] == 1 and params["kernels[0]"] == 3
    assert params["stages[1].t"] == 3
    assert cost.macs < nasblocks.cost("mobilenet_v2_050").macs


def test_unknown_var_is_an_error_at_its_line_with_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, "base: mobilenet_v2\nvars:\n  width: {low: 0.5, high: 1.0}\n  kernel: [3]\n")
    with pytest.raises(SpecError) as err:
        load_space(path)
    assert str(err.value).startswith(f"{err.value.file}:4: vars.kernel: unknown var 'kernel' of base spec "
                                     "'mobilenet_v2'")
    assert str(err.value).endswith("did you mean kernels?")


@pytest.mark.parametrize("domain, message", [
    ("{low: 2, high: 1}", "vars.width: expected numbers low < high, got low=2, high=1"),
    ("{choices: []}", "vars.width: choices: expected a non-empty list, got []"),
    ("{low: 0.5, high: 1.0, stride: 2}", "vars.width: a domain is {choices: [...]} or {low: a, high: b} with an "
                                         "optional step or log; got keys low, high, stride"),
    ("{choices: [[1, 2]]}", "vars.width: choices must be numbers, booleans or words (Optuna's categorical "
                            "values), got [1, 2]"),
    ("{choices: [0.5, O.75, 1.0]}", "vars.width: choices: expected values of one kind (numbers, words or "
                                    "booleans), got 0.5 (a number) and 'O.75' (a word)"),
    ("{low: 0.5, high: 1.0, log: [true]}", "vars.width: log: expected true or false, got [True]"),
    ("{choices: [0.5, true]}", "vars.width: choices: expected values of one kind (numbers, words or booleans), "
                               "got 0.5 (a number) and True (a boolean)"),
])
def test_malformed_domains_are_errors_with_their_place(tmp_path: Path, domain: str, message: str) -> None:
    path = write(tmp_path, f"base: mobilenet_v2\nvars:\n  width: {domain}\n")
    with pytest.raises(SpecError) as err:
        load_space(path)
    assert str(err.value) == f"{err.value.file}:3: {message}"


def test_unknown_key_and_unknown_space(tmp_path: Path) -> None:
    path = write(tmp_path, "base: mobilenet_v2\nfitt: width\nvars: {width: {low: 0.5, high: 1.0}}\n")
    with pytest.raises(SpecError, match=r":2: fitt: unknown key 'fitt'; .*did you mean fit\?"):
        load_space(path)
    with pytest.raises(SpecError, match=r"no search space file or shipped space named 'mobilenet_v9'.*"
                                        r"did you mean mobilenet_v3, mobilenet_v2, mobilenet_v1\?"):
        load_space("mobilenet_v9")
    with pytest.raises(SpecError, match=r"^expected a search space file or a shipped space's name, got ''$"):
        load_space("")  # an unset $SPACE: not this folder, '.: not a file'


STAGES = """
  stages:
    - [1, 16, 1, 1]
    - {row}
    - [6, 32, 3, 2]
    - [6, 64, 4, 2]
    - [6, 96, 3, 1]
    - [6, 160, 3, 2]
    - [6, 320, 1, 1]
"""


MISSING = "base: no spec file {name!r} beside the space (in {folder}) or among the shipped specs (in {specs})"


@pytest.mark.parametrize("space, line, message", [
    ("base: nosuch.yaml\nvars: {width: {low: 0.5, high: 1.0}}\n", 1, MISSING.replace("{name!r}", "'nosuch.yaml'")),
    ("base: mobilenetv2.yaml\nvars: {width: {low: 0.5, high: 1.0}}\n", 1,
     MISSING.replace("{name!r}", "'mobilenetv2.yaml'") + "; did you mean mobilenet_v2"),
    ("base: mobilenet_v2.yaml\nvars:" + STAGES.format(row="[6, 24, 2]"), 5,
     "vars.stages[1]: expected a row of 4 values like the base spec's, got [6, 24, 2]"),
    ("base: mobilenet_v2.yaml\ncolumns: {stages: [t, c, n, s]}\nvars:"
     + STAGES.format(row="[{choices: [3, 6]}, 24, 2]"), 6,
     "vars.stages[1]: expected a row of 4 values (t, c, n, s) like the base spec's, got [{'choices': [3, 6]}, 24, 2]"),
    # a repeat count of 1.5 made every trial that drew it fail to build
    ("base: mobilenet_v2.yaml\nvars:" + STAGES.format(row="[6, 24, {low: 1, high: 4, step: 0.5}, 2]"), 5,
     "vars.stages[1][2]: expected whole numbers, as the base spec's value 2 is, got step=0.5; where fractions "
     "are meant, the base writes 2.0"),
    ("base: mobilenet_v2.yaml\nvars:" + STAGES.format(row="[{choices: [4, 4.5, 6]}, 24, 2, 2]"), 5,
     "vars.stages[1][0]: expected whole numbers, as the base spec's value 6 is, got choices=4.5; where fractions "
     "are meant, the base writes 6.0"),
    # values the base refuses: each trial that drew one failed, blamed on the base spec's line
    ("base: mobilenet_v3\nvars:\n  arch: {choices: [large, small, tiny]}\n", 3,
     "vars.arch: expected values base spec 'mobilenet_v3' takes for 'arch', one of large, small; got 'tiny'"),
    ("base: resnet50\nvars:\n  depth: {low: 18, high: 50}\n", 3,
     "vars.depth: expected values base spec 'resnet50' takes for 'depth', one of 18, 34, 50, 101, 152; got 19"),
    ("base: mobilenet_v2\nvars:\n  width: {choices: [wide, narrow]}\n", 3,
     "vars.width: expected float values, as the base spec's 1.0 is, got 'wide'"),
    ("base: mobilenet_v2\nvars:\n  dropout: {low: 0.0, high: 0.5}\n  width:\n", 4,
     "vars.width: expected float values, as the base spec's 1.0 is, got None"),
    ("base: mobilenet_v2\nproxy_vars: {width: narrow}\nvars:\n  dropout: {low: 0.0, high: 0.5}\n", 2,
     "proxy_vars.width: expected float values, as the base spec's 1.0 is, got 'narrow'"),
])
def test_a_bad_value_is_blamed_on_the_space_file_line_that_wrote_it(tmp_path: Path, space: str, line: int,
                                                                     message: str) -> None:
    path = write(tmp_path, space)
    with pytest.raises(SpecError) as err:
        load_space(path)
    shown = message.replace("{folder}", str(tmp_path)).replace("{specs}", str(specs_dir()))
    assert str(err.value).startswith(f"{path}:{line}: {shown}"), str(err.value)


def test_a_spec_given_as_a_space_and_a_space_given_as_a_base_say_which_is_which(tmp_path: Path) -> None:
    """They were refused for the other kind's keys (unknown key 'input'; unknown key 'base')."""
    text = (specs_dir() / "keras_separable.yaml").read_text()
    spec = write(tmp_path, text, "net.yaml")
    assert_refused(spec, text[:text.index("\nnetwork:")].count("\n") + 2,
                   "network: expected a search space, got a spec (it has a network): a space names a spec as its "
                   "base (base: net.yaml) and gives some of its vars a domain")
    write(tmp_path, "base: net.yaml\nvars:\n  size: {choices: [32, 64]}\n", "other.yaml")
    assert_refused(write(tmp_path, "base: other.yaml\nvars:\n  size: {choices: [32, 64]}\n"), 1,
                   "base: expected a spec, got the search space 'other.yaml': a space's base is the spec it varies "
                   "(that space's base is 'net.yaml')")


def test_a_stepped_float_is_written_at_the_decimals_of_its_step(tmp_path: Path) -> None:
    space = load_space("mobilenet_v2")  # width: {low: 0.35, high: 1.4, step: 0.05}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    sampled = []
    for _ in range(20):
        trial = study.ask()
        sampled.append(space.sample(trial)["width"])
        study.tell(trial, 0.0)
    assert all(width == round(width, 2) for width in sampled)
    # what Optuna stores (0.35 + k * 0.05, say 0.9500000000000001) is bound and written rounded too
    raw = [t.params for t in study.trials if t.params["width"] != round(t.params["width"], 2)]
    assert raw
    for params in raw:
        path = export_trial(tmp_path, "s", space, "300MFLOPs", 0, space.spec(params), params, Cost(1, 1))
        written = yaml.safe_load(path.read_text())["vars"]["width"]
        assert written == round(params["width"], 2) and f"width: {written}\n" in path.read_text()


def test_a_trial_spec_says_where_it_came_from_and_claims_no_reference(tmp_path: Path) -> None:
    """The base's ``reference:`` names torchvision's mobilenet_v2, whose weights a searched
    variation does not take; its description says it is the trial of a study."""
    space = load_space("mobilenet_v2")
    params = space.sample(optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask())
    path = export_trial(tmp_path, "s", space, "300MFLOPs", 3, space.spec(params), params, Cost(1, 1))
    document = yaml.safe_load(path.read_text())
    assert "reference" not in document
    assert document["description"].startswith("Trial 3 of study s, searched in space mobilenet_v2 from "
                                              "mobilenet_v2. The base network: MobileNetV2 (Sandler et al.")
    assert nasblocks.expand(nasblocks.load(path)).macs == nasblocks.expand(space.spec(params)).macs


@pytest.mark.parametrize("name", ["mobilenet_v2", "mobilenet_v1"])  # torchvision's init; timm's, dwconv's own
def test_a_trial_spec_rebuilds_the_trial_s_tensors_from_the_same_seed(tmp_path: Path, name: str) -> None:
    """It keeps the base's ``init``: ``study retrain`` starts where the trial started."""
    space = load_space(name)
    params = space.sample(optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask())
    spec = space.spec(params).with_input((3, 32, 32))
    path = export_trial(tmp_path, "s", space, "300MFLOPs", 0, spec, params, Cost(1, 1))
    torch.manual_seed(0)
    trial = nasblocks.build(spec).state_dict()
    torch.manual_seed(0)
    written = nasblocks.build(nasblocks.load(path).with_input((3, 32, 32))).state_dict()
    assert list(written) == list(trial)
    assert [key for key in trial if not torch.equal(written[key], trial[key])] == []


def test_cases_search_only_the_selected_table(tmp_path: Path) -> None:
    path = write(tmp_path, """
base: mobilenet_v3
vars:
  arch: {choices: [large, small]}
  bneck:
    by: arch
    cases:
      large: [[3, 16, 16, {choices: [false, true]}, RE, 1]]
      small: [[3, 16, 16, {choices: [true, false]}, RE, 2]]
""")
    space = load_space(path)
    assert [d.name for d in space.domains] == ["arch", "bneck.large[0][3]", "bneck.small[0][3]"]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    params = space.sample(trial)
    arch = params["arch"]
    other = "small" if arch == "large" else "large"
    assert f"bneck.{arch}[0][3]" in params and f"bneck.{other}[0][3]" not in params
    bound = space.vars_for(params)["bneck"]
    assert bound[other] == space.base.vars["bneck"][other]  # the unused table keeps the base's rows
    assert bound[arch] == [[3, 16, 16, params[f"bneck.{arch}[0][3]"], "RE", 1 if arch == "large" else 2]]


def test_null_may_stand_beside_one_kind_of_choice(tmp_path: Path) -> None:
    """An optional value (no squeeze-excite, or a ratio) is one choice among numbers."""
    text = (specs_dir() / "keras_separable.yaml").read_text()
    write(tmp_path, text.replace("  size: 64 ", "  se_ratio: null\n  size: 64 "), "net.yaml")
    space = load_space(write(tmp_path, "base: net.yaml\nvars:\n  se_ratio: {choices: [null, 0.25, 1]}\n"))
    assert space.domain("se_ratio").choices == (None, 0.25, 1)


MBV3_SMALL_ROW = "[[{choices: [3, 5]}, 16, 16, true, RE, 2]]"


@pytest.mark.parametrize("space, line, message", [
    ("arch: {choices: [large, small]}\n  bneck: {by: acrh, cases: {small: %s}}" % MBV3_SMALL_ROW, 4,
     "vars.bneck.by: expected the base spec's var that selects the case, got 'acrh'; did you mean arch?"),
    ("arch: {choices: [large, small]}\n  bneck:\n    by: arch\n    cases:\n      smal: %s" % MBV3_SMALL_ROW, 7,
     "vars.bneck.cases.smal: expected a case of the base spec's mapping (large, small), got 'smal'; did you "
     "mean small?"),
    ("width: {choices: [0.75, 1.0]}\n  se_ratio: {by: width, cases: {0.75: 0.25}}", 4,
     "vars.se_ratio: searched by 'width', so the base spec's value must be a mapping from the values of 'width' "
     "to a value each; it is 0.25"),
])
def test_cases_name_a_var_and_the_keys_of_the_base_mapping_it_indexes(tmp_path: Path, space: str, line: int,
                                                                      message: str) -> None:
    """A misspelt ``by`` or case, or cases over a value that is not a mapping, was a traceback or
    an error at the base spec's line where the space's case was read."""
    base = (specs_dir() / "mobilenet_v3.yaml").read_text()
    write(tmp_path, base.replace("  dropout: 0.2\n", "  dropout: 0.2\n  se_ratio: 0.25\n"), "mobilenet_v3.yaml")
    assert_refused(write(tmp_path, f"base: mobilenet_v3.yaml\nvars:\n  {space}\n"), line, message)


def test_a_case_the_space_leaves_out_keeps_the_base_value(tmp_path: Path) -> None:
    """Searching the Small table only: the Large network is still the base's (it was lost, so
    mobilenet_v3_large did not build and the smallest network was always Small)."""
    space = load_space(write(tmp_path, "base: mobilenet_v3\nvars:\n  arch: {choices: [large, small]}\n"
                                       f"  bneck: {{by: arch, cases: {{small: {MBV3_SMALL_ROW}}}}}\n"))
    assert check(space, nasblocks.load("mobilenet_v3_large")).ok
    small = space.vars_for({"arch": "small", "bneck.small[0][0]": 5})["bneck"]
    assert small == {"large": space.base.vars["bneck"]["large"], "small": [[5, 16, 16, True, "RE", 2]]}


def test_the_docs_space_sketch_is_the_shipped_mobilenet_v2_space_once_its_elisions_are_filled(
        tmp_path: Path) -> None:
    doc = (Path(__file__).parents[2] / "docs" / "search.md").read_text()
    sketch = yaml.safe_load(doc.split("## Search spaces")[1].split("```yaml\n")[1].split("```")[0])
    shipped = yaml.safe_load((spaces_dir() / "mobilenet_v2.yaml").read_text())

    def filled(part: object, whole: object) -> object:
        """``whole`` where ``part`` is it with a list cut short by ``...``."""
        if isinstance(part, dict) and isinstance(whole, dict):
            return {key: filled(value, whole.get(key)) for key, value in part.items()}
        if isinstance(part, list) and part[-1:] == ["..."] and isinstance(whole, list):
            return [filled(p, w) for p, w in zip(part[:-1], whole)] + whole[len(part) - 1:]
        assert part == whole
        return part

    space = load_space(write(tmp_path, yaml.safe_dump(filled(sketch, shipped), sort_keys=False)))
    assert [d.name for d in space.domains] == [d.name for d in load_space("mobilenet_v2").domains]


@pytest.mark.parametrize("name", sorted(nasblocks.zoo_names()))
def test_every_zoo_network_is_a_point_of_a_shipped_space(name: str) -> None:
    spec = nasblocks.load(name)
    spaces = [load_space(p) for p in sorted(spaces_dir().glob("*.yaml"))]
    results = [check(s, spec) for s in spaces if Path(s.base.file).resolve() == Path(spec.file).resolve()]
    assert any(r.ok for r in results), [r.message for r in results] or f"no space has {spec.file} as base"


@pytest.mark.parametrize("path", sorted(spaces_dir().glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_space_samples_networks_that_price(path: Path) -> None:
    space = load_space(path)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    params, smallest = space.smallest(price)
    assert smallest.macs > 0 and space.description
    built = 0
    for _ in range(3):
        fitted = fit_width(space, space.sample(study.ask()), price, lambda c: True)
        built += fitted.cost is not None
    assert built or space.name == "shufflenet_v1"  # half its (groups, scale) pairs have no widths


@pytest.mark.parametrize("domain, message", [
    ("{choices: [0.5]}", "vars.width: choices: one choice is a fixed value; write 0.5 itself, or give two or "
                         "more choices"),
    ("{choices: [0.5, 0.75, 0.5]}", "vars.width: choices: 0.5 is given twice"),
    ("{low: 0.25, high: 2.0, step: 0.4}", "vars.width: step: expected a step that divides high - low = 1.75, "
                                          "got 0.4: the range would end at 1.85, not at high=2.0"),
    ("{low: 1, high: 4, step: 2}", "vars.width: step: expected a step that divides high - low = 3, got 2: the "
                                   "range would end at 3, not at high=4"),
])
def test_domains_optuna_would_quietly_change_are_errors(tmp_path: Path, domain: str, message: str) -> None:
    """A single or repeated choice, and a step that leaves a remainder (Optuna moves ``high``
    with a warning), are mistakes in the file, not parameters to search."""
    assert_refused(write(tmp_path, f"base: mobilenet_v2\nvars:\n  width: {domain}\n"), 3, message)


MBV2_STAGES = STAGES.format(row="[{choices: [3, 6]}, 24, 2, 2]")


@pytest.mark.parametrize("columns, message", [
    ("{stagse: [t, c, n, s]}", "columns.stagse: 'stagse' is not a var of this space's 'vars'; columns name a "
                               "searched table's columns; did you mean stages?"),
    ("{stages: [t, c, n]}", "columns.stages: expected one name per column of 'stages', whose base value has rows "
                            "of 4 values; got [t, c, n]"),
    ("{kernels: [k]}", "columns.kernels: expected one name per column of 'kernels', whose base value has no "
                       "table (a list of rows of one length); got [k]"),
])
def test_columns_that_name_nothing_are_errors(tmp_path: Path, columns: str, message: str) -> None:
    """A misspelt table or a name too few would otherwise leave parameters named by position."""
    assert_refused(write(tmp_path, f"base: mobilenet_v2\ncolumns: {columns}\nvars:{MBV2_STAGES}"
                                   "  kernels: [{choices: [3, 5]}, 3, 3, 3, 3, 3, 3]\n"), 2, message)


@pytest.mark.parametrize("recipe, message", [
    ("{lr: fast}", "recipe.lr: expected a number > 0, got 'fast'"),
    ("{optimizer: adam}", "recipe.optimizer: expected one of sgd, adamw, got 'adam'"),
    ("{batch_size: 1}", "recipe.batch_size: expected an int >= 2 (batch norm trains on two examples or more), got 1"),
])
def test_a_recipe_value_is_checked_as_its_option_is(tmp_path: Path, recipe: str, message: str) -> None:
    """`--recipe seed` would otherwise hand it to torch's optimiser: a traceback mid-search."""
    assert_refused(write(tmp_path, f"base: mobilenet_v2\nrecipe: {recipe}\nvars:\n  width: {{low: 0.5, high: 1.0}}\n"),
                   2, message)


@pytest.mark.parametrize("fit", ["widht", "[width]"])  # a list was a traceback (unhashable)
def test_a_misspelt_fit_var_suggests_the_width(tmp_path: Path, fit: str) -> None:
    shown = repr(yaml.safe_load(fit))
    assert_refused(write(tmp_path, f"base: mobilenet_v2\nfit: {fit}\nvars:\n  width: {{low: 0.5, high: 1.0}}\n"), 2,
                   f"fit: expected a searched numeric var (a width) of this space, got {shown}; did you mean width?")


def assert_refused(path: Path, line: int, message: str) -> None:
    """Loading the space at ``path`` is exactly one error: ``path:line: message``."""
    with pytest.raises(SpecError) as err:
        load_space(path)
    assert str(err.value) == f"{path}:{line}: {message}"
