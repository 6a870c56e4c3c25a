"""Parameters: the catalogue, scenario composition, overrides and their errors."""

import math

import pytest

from amxmodel.common.errors import InputError
from amxmodel.inputs import catalog
from amxmodel.inputs.designs import POLICY_NAMES
from amxmodel.inputs.scenario import load_scenario


def test_every_catalogue_entry_has_unit_range_and_source():
    for section in ("hardware", "fleet", "run"):
        for name, spec in catalog.section(section).items():
            assert spec.default is not None, name
            lo, hi = spec.allowed
            assert lo <= spec.default <= hi, name
            assert spec.source, name
            assert spec.plausible is not None and lo <= spec.plausible[0] <= spec.plausible[1] <= hi


def test_default_scenario_composes_all_parts():
    sc = load_scenario()
    assert sc.policies == list(POLICY_NAMES)
    assert math.isclose(sum(sc.mix.values()), 1.0)
    assert set(sc.workloads) == set(sc.mix)
    assert sc.hardware.default_pages == 1 and sc.hardware.amx_pages == 3  # SPR sizes, 4 KiB pages


def test_every_workload_field_has_a_source():
    sc = load_scenario()
    for wc in sc.workloads.values():
        assert set(wc.fields) == set(catalog.section("workload"))
        for f in wc.fields.values():
            assert f.source


@pytest.mark.parametrize("sets, check", [
    (["hardware.rdmsr_xfd_cycles=120"], lambda s: s.hardware.rdmsr_xfd_cycles == 120),
    (["rdmsr_xfd_cycles=120"], lambda s: s.hardware.rdmsr_xfd_cycles == 120),
    (["fleet.hosts=7"], lambda s: s.fleet["hosts"] == 7),
    (["run.steps=3"], lambda s: s.run["steps"] == 3),
    (["policies=upstream,sync-always"], lambda s: s.policies == ["upstream", "sync-always"]),
    (["workload=web"], lambda s: list(s.mix) == ["web"]),
    (["workloads.web.exits_per_vcpu_s.median=800"],
     lambda s: s.workloads["web"].dist("exits_per_vcpu_s").center() == 800),
    (["workloads.*.p_uses_amx=0.5"], lambda s: all(w.mean("p_uses_amx") == 0.5 for w in s.workloads.values())),
    (["hardware=spr-pessimistic"], lambda s: s.hardware.rdmsr_xfd_cycles == 200),
    (["mix.web=0"], lambda s: "web" not in s.mix),
])
def test_overrides(sets, check):
    assert check(load_scenario(None, sets))


@pytest.mark.parametrize("sets, needle", [
    (["hardware.rdmsr_xfd_cycles=-1"], "allowed: 0 to"),
    (["rdmsr_xfd_cycle=3"], "did you mean 'rdmsr_xfd_cycles'"),
    (["fleet.hosts=2.5"], "whole number"),
    (["fleet.hosts=.nan"], "finite"),
    (["fleet.occupancy=1.5"], "allowed: 0 to 1"),
    (["workloads.web.p_uses_amx=1.5"], "allowed: 0 to 1 probability"),
    (["workloads.web.exits_per_vcpu_s.median=-5"], "greater than 0"),
    (["policies=upstreem"], "did you mean 'upstream'"),
    (["workload=nosuch"], "unknown workload 'nosuch'"),
    (["hardware=nosuch"], "unknown hardware 'nosuch'"),
    (["noequals"], "expected key=value"),
    (["mix.web=-1"], "share >= 0"),
])
def test_bad_overrides_name_the_field(sets, needle):
    with pytest.raises(InputError) as e:
        load_scenario(None, sets)
    assert needle in str(e.value)


def test_bad_files(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("hardware: spr\nfleet: [unclosed\n")
    with pytest.raises(InputError, match="malformed YAML"):
        load_scenario(str(bad))
    tagged = tmp_path / "tagged.yaml"
    tagged.write_text("hardware: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(InputError, match="tag not allowed"):
        load_scenario(str(tagged))
    typo = tmp_path / "typo.yaml"
    typo.write_text("hardwre: spr\n")
    with pytest.raises(InputError, match="did you mean 'hardware'"):
        load_scenario(str(typo))
    with pytest.raises(InputError, match="no such file"):
        load_scenario(str(tmp_path / "missing.yaml"))


# ----------------------------------------------------------------------------- amxmodel params

REPO = __import__("pathlib").Path(__file__).resolve().parents[1]
TRIVIAL_SOURCES = {"assumption", "setting"}


def _shipped_classes():
    from amxmodel.inputs.parts import load_part
    from amxmodel.inputs.workloads import check_workload

    for path in sorted((REPO / "data" / "workloads").glob("*.yaml")):
        yield path.stem, check_workload(path.stem, load_part("workloads", path.stem))


def test_every_default_lies_in_its_plausible_range():
    for section in ("hardware", "fleet", "run"):
        for name, spec in catalog.section(section).items():
            if name != "seed":  # a seed has no plausible value
                assert spec.plausible[0] <= spec.default <= spec.plausible[1], (section, name)
    for cls, wc in _shipped_classes():
        for name, f in wc.fields.items():
            lo, hi = f.plausible
            assert lo <= f.value.center() <= hi, (cls, name, f.value.center(), f.plausible)


def test_no_two_unrelated_parameters_share_a_source():
    """A source text (other than the bare word 'assumption') belongs to one parameter name;
    the same field in several workload classes may share it."""
    owners: dict[str, set[str]] = {}
    for section in ("hardware", "fleet", "run"):
        for name, spec in catalog.section(section).items():
            owners.setdefault(spec.source, set()).add(name)
    for _, wc in _shipped_classes():
        for name, f in wc.fields.items():
            owners.setdefault(f.source, set()).add(name)
    shared = {s: n for s, n in owners.items() if len(n) > 1 and s not in TRIVIAL_SOURCES}
    assert shared == {}


def test_sources_resolve_inside_the_repository():
    import re

    texts = [spec.source for s in ("hardware", "fleet", "run")
             for spec in catalog.section(s).values()]
    texts += [f.source for _, wc in _shipped_classes() for f in wc.fields.values()]
    texts += [(REPO / "data" / "fleets" / "default.yaml").read_text()]
    for text in texts:
        assert "domain page" not in text and "cost-parameters.md" not in text, text
        for path in re.findall(r"\b(?:docs|data)/[\w./-]+\.(?:md|yaml)", text):
            assert (REPO / path).is_file(), path
    sections = re.findall(r"docs/parameters\.md, ([A-Z][\w -]+?)(?::|\)|$)", "\n".join(texts))
    page = (REPO / "docs" / "parameters.md").read_text()
    assert sections and all(f"## {s}" in page for s in set(sections)), set(sections)


def test_params_json_numbers_are_numbers_and_the_mix_is_listed(capsys):
    import json

    from amxmodel.cli import main

    assert main(["params", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    cpu = next(r for r in rows if r["key"] == "hardware.cpu_hz")
    assert cpu["value"] == 3e9 and cpu["allowed"] == [1e8, 1e10] and cpu["help"]
    mix = [r for r in rows if r["section"] == "mix"]
    assert {r["name"] for r in mix} == set(load_scenario().mix)
    assert math.isclose(sum(r["value"] for r in mix), 1.0)
    fixed = [r for r in rows if isinstance(r["value"], (int, float))]
    assert all(not isinstance(r["value"], str) for r in rows) and len(fixed) > 20


def test_params_table_wraps_to_the_given_width_and_shows_help(capsys):
    from amxmodel.cli import main

    for width in (60, 100):
        assert main(["params", "--width", str(width)]) == 0
        text = capsys.readouterr().out
        assert max(len(line) for line in text.splitlines()) <= width
        assert "core clock used to convert cycles to time" in " ".join(text.split())
        assert "[mix] share of vCPU slots" in text


def test_every_printed_value_is_accepted_back_by_set():
    from amxmodel.inputs.parameter_table import parameter_frame

    df = parameter_frame()
    sets = [s for s in df["set"] if not s.startswith("--set")]
    sets += [s.split()[1] for s in df["set"] if s.startswith("--set") and ".median=" in s]
    assert "hardware.cpu_hz=3e+09" in sets
    again = load_scenario(None, sets)
    assert again.hardware.values == load_scenario().hardware.values
    assert again.fleet == load_scenario().fleet


@pytest.mark.parametrize("sets, needles", [
    (["exits_per_vcpu_s=50000"], ["workloads.*.exits_per_vcpu_s=50000",
                                  "workloads.*.exits_per_vcpu_s.median=50000", "sigma"]),
    (["p_uses_amx.median=0.1"], ["workloads.*.p_uses_amx.median=0.1"]),
    (["workloads.web.p_uses_amx.median=0.1"], ["a constant", "workloads.web.p_uses_amx=0.1"]),
    (["hardware.rdmsr_xfd_cycles=1e6"], ["out of range", "0 to 100000 cycles"]),
])
def test_short_names_and_medians_get_a_hint(sets, needles):
    with pytest.raises(InputError) as e:
        load_scenario(None, sets)
    assert all(n in str(e.value) for n in needles), str(e.value)
