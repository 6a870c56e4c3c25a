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
