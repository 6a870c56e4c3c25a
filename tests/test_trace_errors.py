"""Bad traces: one clear InputError naming the file, the event and the allowed values."""

from __future__ import annotations

import subprocess
import sys

import pytest

from amxmodel.common.errors import InputError
from amxmodel.kernel.replay import replay_file

HEAD = "name: t\nsource: test\n"


def write(tmp_path, body: str, head: str = HEAD):
    path = tmp_path / "bad.yaml"
    path.write_text(head + body)
    return path


def error_of(tmp_path, body: str, head: str = HEAD) -> str:
    path = write(tmp_path, body, head)
    with pytest.raises(InputError) as exc:
        replay_file(path)
    msg = str(exc.value)
    assert str(path) in msg
    return msg


def test_unknown_event_lists_allowed_events_with_the_closest(tmp_path):
    msg = error_of(tmp_path, "events:\n  - {event: create_vcpu}\n  - {event: guest_amxx}\n")
    assert "events[1]" in msg and "unknown event 'guest_amxx'" in msg
    assert "did you mean 'guest_amx'?" in msg and "allowed: create_vcpu," in msg


def test_unknown_argument(tmp_path):
    msg = error_of(tmp_path, "events:\n  - {event: create_vcpu, cpu: 1}\n")
    assert "events[0] (create_vcpu)" in msg and "unknown argument of create_vcpu 'cpu'" in msg
    assert "allowed: vcpu" in msg


def test_process_wide_event_takes_no_vcpu(tmp_path):
    msg = error_of(tmp_path, "events:\n  - {event: perm_request, vcpu: 0}\n")
    assert "perm_request is process-wide and takes no vcpu" in msg


def test_missing_required_argument(tmp_path):
    body = "events:\n  - {event: create_vcpu}\n  - {event: run_enter}\n  - {event: exit}\n"
    msg = error_of(tmp_path, body)
    assert "events[2] (exit): missing required argument 'kind'" in msg
    assert "allowed: fastpath, kernel, user" in msg


def test_bad_value_type(tmp_path):
    msg = error_of(tmp_path, "events:\n  - {event: create_vcpu}\n  - {event: set_cpuid, amx: yes please}\n")
    assert "'amx' must be true or false, got 'yes please'" in msg


def test_value_out_of_range(tmp_path):
    body = ("events:\n  - {event: create_vcpu}\n  - {event: run_enter}\n"
            "  - {event: guest_wrmsr_xfd, value: 0x80000}\n")
    msg = error_of(tmp_path, body)
    assert "events[2] (guest_wrmsr_xfd): value = 0x80000 is out of range" in msg
    assert "allowed: 0 or 0x40000" in msg
    msg = error_of(tmp_path, "events:\n  - {event: create_vcpu, vcpu: 5000}\n")
    assert "vcpu = 5000 is out of range; allowed: an integer from 0 to 4095" in msg


def test_bad_choice(tmp_path):
    body = "events:\n  - {event: create_vcpu}\n  - {event: host_set_msr, msr: pkru, value: 0}\n"
    assert "msr = 'pkru' is not allowed; allowed: xfd, xfd_err" in error_of(tmp_path, body)


def test_malformed_yaml(tmp_path):
    msg = error_of(tmp_path, "events:\n  - {event: create_vcpu\n")
    assert "malformed YAML" in msg and "line" in msg


ORDER_CASES = {
    "vcpu never created": (
        ["create_vcpu", "{event: run_enter, vcpu: 3}"],
        ["events[1] (run_enter): vcpu 3 was never created", "vCPUs that exist here: 0"]),
    "event after destroy_vcpu": (
        ["create_vcpu", "destroy_vcpu", "{event: set_cpuid, amx: false}"],
        ["events[2] (set_cpuid): vcpu 0 was destroyed at events[1]",
         "create it again with create_vcpu"]),
    "guest event outside KVM_RUN": (
        ["create_vcpu", "run_enter", "{event: exit, kind: user}", "guest_amx"],
        ["events[3] (guest_amx): vcpu 0 is not inside KVM_RUN",
         "returned to the VMM at events[2]", "add run_enter first"]),
    "ioctl inside KVM_RUN": (
        ["create_vcpu", "run_enter", "destroy_vcpu"],
        ["events[2] (destroy_vcpu)", "vCPU ioctls wait for KVM_RUN to return"]),
    "host_preempt after a fastpath exit": (
        ["create_vcpu", "run_enter", "{event: exit, kind: fastpath}", "host_preempt"],
        ["events[3] (host_preempt)", "host_preempt happens in the host after a VM exit"]),
}


@pytest.mark.parametrize("case", ORDER_CASES)
def test_order_rules(tmp_path, case):
    events, expected = ORDER_CASES[case]
    lines = [e if e.startswith("{") else f"{{event: {e}}}" for e in events]
    msg = error_of(tmp_path, "events:\n" + "".join(f"  - {line}\n" for line in lines))
    for text in expected:
        assert text in msg


def test_missing_name_and_unknown_top_level_key(tmp_path):
    assert "'name' is required" in error_of(tmp_path, "events: []\n", head="source: x\n")
    msg = error_of(tmp_path, "evnts: []\n")
    assert "unknown trace key 'evnts'" in msg and "did you mean 'events'?" in msg


def test_unknown_hardware_profile(tmp_path):
    msg = error_of(tmp_path, "hardware: spr-fast\nevents:\n  - {event: create_vcpu}\n")
    assert "hardware" in msg and "spr-pessimistic" in msg


def test_cli_prints_one_line_and_exits_2_without_traceback(tmp_path):
    path = write(tmp_path, "events:\n  - {event: guest_amxx}\n")
    proc = subprocess.run([sys.executable, "-m", "amxmodel", "replay", str(path)],
                          check=False, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unknown event 'guest_amxx'" in proc.stderr and "Traceback" not in proc.stderr
