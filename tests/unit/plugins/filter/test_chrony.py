"""The chrony filters (status.yml's clock of each node) on real output of
chrony 4.3 (fixtures/chrony: the container lab's servdb and servvirt1, and
two chronyd on one machine's loopback; its README says how each was taken),
and on the command module's registered results for a failed chronyc."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.filter.chrony import (
    FilterModule, chrony_clock_summary, chrony_tracking)

FIXTURES = Path(__file__).parent / "fixtures" / "chrony"
# Each CSV capture with the text capture taken with it (same node, seconds apart at most).
PAIRS = {
    "servdb": ("tracking-csv-servdb-bookworm.txt", "tracking-servdb-bookworm.txt"),
    "servvirt1": ("tracking-csv-servvirt1-bookworm.txt", "tracking-servvirt1-bookworm.txt"),
    "loopback-fast": ("tracking-csv-loopback-fast-bookworm.txt", "tracking-loopback-fast-bookworm.txt"),
    "unsynchronised": ("tracking-csv-unsynchronised-bookworm.txt", "tracking-unsynchronised-bookworm.txt"),
    # chrony 4.6.1 (Debian 13 container lab): the same fields; servvirt1 was fast of servdb here.
    "servdb-trixie": ("tracking-csv-servdb-trixie.txt", "tracking-servdb-trixie.txt"),
    "servvirt1-trixie": ("tracking-csv-servvirt1-trixie.txt", "tracking-servvirt1-trixie.txt"),
}


def _read(name):
    return (FIXTURES / name).read_text()


def _ran(name):
    """The registered result of chronyc -c -n tracking that printed the capture ``name``."""
    return {"changed": False, "rc": 0, "stdout": _read(name).rstrip("\n"), "stderr": ""}


def _no_daemon():
    base = "tracking-csv-no-daemon-bookworm"
    return {"changed": False, "rc": int(_read(base + ".rc")), "stdout": _read(base + ".stdout").rstrip("\n"),
            "stderr": _read(base + ".stderr").rstrip("\n")}


def _text_field(text, label):
    """A field of ``chronyc tracking``'s text, for checking the CSV against it (only here, in a test)."""
    return next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith(label))


def _with(name, **fields):
    """A real CSV capture with some fields replaced (for the states no capture shows)."""
    values = _read(name).strip().split(",")
    index = {"reference_id": 0, "address": 1, "stratum": 2, "leap_status": 13}
    for field, value in fields.items():
        values[index[field]] = value
    return {"rc": 0, "stdout": ",".join(values), "stderr": ""}


def test_both_filters_are_registered():
    assert sorted(FilterModule().filters()) == ["chrony_clock_summary", "chrony_tracking"]


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_the_csv_says_what_the_text_says(pair):
    """The sign convention, on real output: System time positive is "slow",
    Frequency positive is "fast" (client.c print_report %O and %F)."""
    csv_name, text_name = PAIRS[pair]
    tracking = chrony_tracking(_read(csv_name))
    text = _read(text_name)
    offset, unit, word, _rest = _text_field(text, "System time").split(" ", 3)
    # The two forms were asked a second apart: the offset moves by tens of nanoseconds between them,
    # far less than a wrong sign would (each pair's offset is 0 or microseconds).
    assert (unit, tracking["direction"]) == ("seconds", word)
    assert tracking["system_time"] == pytest.approx(float(offset) * (1 if word == "slow" else -1), abs=1e-7)
    ppm, _unit, freq_word = _text_field(text, "Frequency").split(" ")
    assert tracking["frequency_ppm"] == pytest.approx(float(ppm) * (1 if freq_word == "fast" else -1), abs=1e-3)
    reference_id, _sep, name = _text_field(text, "Reference ID").partition(" ")
    assert (tracking["reference_id"], tracking["address"]) == (reference_id, name.strip("()"))
    assert tracking["stratum"] == int(_text_field(text, "Stratum"))
    assert tracking["leap_status"] == _text_field(text, "Leap status")


def test_a_client_of_the_time_server():
    assert chrony_tracking(_read("tracking-csv-servvirt1-bookworm.txt")) == {
        "reference_id": "0AD2010A", "address": "10.210.1.10", "stratum": 11, "ref_time": 1796153901.007189282,
        "system_time": 0.000009219, "last_offset": -0.000005091, "rms_offset": 0.000180938,
        "frequency_ppm": 0.011, "residual_frequency_ppm": -0.002, "skew_ppm": 0.193,
        "root_delay": 0.000046191, "root_dispersion": 0.000029337, "update_interval": 64.6,
        "leap_status": "Normal", "direction": "slow", "synchronised": True, "local_clock": False}


@pytest.mark.parametrize("name, expected", [
    ("tracking-csv-servdb-bookworm.txt",
     dict(reference_id="7F7F0101", address="", stratum=10, local_clock=True, synchronised=True, direction="fast")),
    ("tracking-csv-loopback-fast-bookworm.txt",
     dict(reference_id="7F000001", address="127.0.0.1", stratum=11, local_clock=False, synchronised=True,
          direction="fast", system_time=-0.000002228, frequency_ppm=-0.054)),
    ("tracking-csv-unsynchronised-bookworm.txt",
     dict(reference_id="00000000", address="", stratum=0, local_clock=False, synchronised=False,
          leap_status="Not synchronised")),
])
def test_the_other_captures(name, expected):
    tracking = chrony_tracking(_read(name))
    assert {key: tracking[key] for key in expected} == expected


# status.yml's clock part, for each state a node can be in.
SUMMARIES = [
    ("servvirt1 follows servdb", lambda: _ran("tracking-csv-servvirt1-bookworm.txt"),
     "0.000009219 seconds slow of 10.210.1.10 (stratum 11)"),
    ("servdb on its own clock", lambda: _ran("tracking-csv-servdb-bookworm.txt"),
     "0.000000000 seconds fast of local clock (stratum 10)"),
    ("a clock fast of its source", lambda: _ran("tracking-csv-loopback-fast-bookworm.txt"),
     "0.000002228 seconds fast of 127.0.0.1 (stratum 11)"),
    ("chronyd without a source yet", lambda: _ran("tracking-csv-unsynchronised-bookworm.txt"),
     "NOT SYNCHRONISED (chronyd has selected no time source)"),
    ("chronyd not running", _no_daemon, "offset unknown (chronyc: 506 Cannot talk to daemon)"),
    ("chronyc not installed", lambda: json.loads(_read("command-chronyc-missing.json")),
     "offset unknown (chronyc: [Errno 2] No such file or directory: b'chronyc')"),
    ("a host that did not run the task (unreachable)", dict, "offset unknown (chronyc did not run)"),
    ("a skipped task", lambda: {"skipped": True, "changed": False}, "offset unknown (chronyc did not run)"),
    ("exit code 0 and nothing printed", lambda: {"rc": 0, "stdout": "", "stderr": ""},
     "offset unknown (chronyc printed nothing)"),
    ("a failure that printed nothing", lambda: {"rc": 1, "stdout": "", "stderr": ""},
     "offset unknown (chronyc: exit code 1)"),
    # Made from the servvirt1 capture: a reference clock (chronyc names it by its reference ID).
    ("a reference clock (made from a capture)",
     lambda: _with("tracking-csv-servvirt1-bookworm.txt", reference_id="47505300", address="GPS", stratum="1"),
     "0.000009219 seconds slow of reference clock GPS (stratum 1)"),
    ("a leap second announced (made from a capture)",
     lambda: _with("tracking-csv-servvirt1-bookworm.txt", leap_status="Insert second"),
     "0.000009219 seconds slow of 10.210.1.10 (stratum 11), leap status Insert second"),
]


@pytest.mark.parametrize("result, expected", [case[1:] for case in SUMMARIES], ids=[case[0] for case in SUMMARIES])
def test_clock_summary(result, expected):
    assert chrony_clock_summary(result()) == expected


def test_the_summary_keeps_the_status_line_that_test_status_reads():
    """molecule/default/tests/test_status.py: "NODE: clock N seconds fast|slow"."""
    for name in ("tracking-csv-servvirt1-bookworm.txt", "tracking-csv-servdb-bookworm.txt"):
        assert re.match(r"[0-9.]+ seconds (fast|slow)", chrony_clock_summary(_ran(name)))


MALFORMED = [
    ("the text form (chronyc -n tracking, what status.yml ran before)", _read("tracking-servvirt1-bookworm.txt"),
     "expected the one line of chronyc -c tracking, got 13 lines"),
    ("a field missing", _read("tracking-csv-servvirt1-bookworm.txt").rsplit(",", 1)[0],
     "expected the 14 fields of chronyc -c tracking, got 13"),
    ("a field more", _read("tracking-csv-servvirt1-bookworm.txt").strip() + ",1",
     "expected the 14 fields of chronyc -c tracking, got 15"),
    ("a number that is not", _read("tracking-csv-servvirt1-bookworm.txt").replace("0.000009219", "slow"),
     "a number of chronyc -c tracking is not one"),
    ("a reference ID that is not hexadecimal",
     _read("tracking-csv-servvirt1-bookworm.txt").replace("0AD2010A", "servdb"),
     "the reference ID 'servdb' is not 8 hexadecimal digits"),
    ("an unknown leap status", _read("tracking-csv-servvirt1-bookworm.txt").replace("Normal", "Invalid"),
     "unknown leap status 'Invalid'"),
]


@pytest.mark.parametrize("text, message", [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED])
def test_malformed_output_fails_saying_why(text, message):
    with pytest.raises(AnsibleFilterError, match="^chrony_tracking: " + re.escape(message)):
        chrony_tracking(text)
    with pytest.raises(AnsibleFilterError, match="^chrony_clock_summary: " + re.escape(message)):
        chrony_clock_summary({"rc": 0, "stdout": text, "stderr": ""})


@pytest.mark.parametrize("value", [None, 3, ["a"]])
def test_not_a_command_output(value):
    with pytest.raises(AnsibleFilterError, match="^chrony_tracking: expected chronyc's output"):
        chrony_tracking(value)


def test_tracking_of_nothing_fails():
    with pytest.raises(AnsibleFilterError, match="^chrony_tracking: chronyc printed nothing"):
        chrony_tracking("  \n")


@pytest.mark.parametrize("value", [None, "0AD2010A,...", ["rc", 0]])
def test_the_summary_needs_the_registered_result(value):
    with pytest.raises(AnsibleFilterError, match="^chrony_clock_summary: expected the registered result"):
        chrony_clock_summary(value)
