# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""chrony's view of a host's clock, read from ``chronyc -c -n tracking``
(the CSV form of ``chronyc tracking``) in Python, never with regular
expressions. Each filter is documented in the .yml file of its name beside
this one.

What chronyc prints (client.c, process_cmd_tracking and print_report, the
same fourteen fields from chrony 4.3 to the 2025 sources; captures of
chrony 4.3 in tests/unit/plugins/filter/fixtures/chrony):

* one line, the fields of ``chronyc tracking`` in its order, separated by
  commas, without units or words: reference ID (8 hex digits), the source
  (an IP address; for a reference clock its reference ID as text; empty for
  the local clock, reference ID 7F7F0101), stratum, reference time (seconds
  since the epoch), system time, last offset, RMS offset, frequency,
  residual frequency, skew, root delay, root dispersion, update interval,
  leap status (Normal, Insert second, Delete second, Not synchronised);
* "System time" in CSV is the signed value the text prints as "N seconds
  slow|fast of NTP time": print_report's %O is ``fabs(value)`` followed by
  "slow" when the value is positive, "fast" otherwise, so a POSITIVE value
  means the system clock is SLOW (behind NTP time: chronyd still has to
  advance it by that much); "Frequency" (%F) the other way round, positive
  is "ppm fast";
* when chronyd cannot be reached chronyc prints "506 Cannot talk to daemon"
  on its standard output (not its standard error) and exits 1."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.module_utils.command_result import failure_reason

FIELDS = ("reference_id", "address", "stratum", "ref_time", "system_time", "last_offset", "rms_offset",
          "frequency_ppm", "residual_frequency_ppm", "skew_ppm", "root_delay", "root_dispersion",
          "update_interval", "leap_status")
FLOATS = FIELDS[3:13]
LEAP_STATUSES = ("Normal", "Insert second", "Delete second", "Not synchronised")
# The reference ID chronyd uses for its own clock (the local directive): 127.127.1.1.
LOCAL_REFERENCE_ID = "7F7F0101"


def _fail(name, message):
    raise AnsibleFilterError("%s: %s" % (name, message))


def _parse(text, name):
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != 1:
        _fail(name, "expected the one line of chronyc -c tracking, got %d lines" % len(lines))
    values = lines[0].strip().split(",")
    if len(values) != len(FIELDS):
        _fail(name, "expected the %d fields of chronyc -c tracking, got %d (is this chronyc -c -n tracking?)"
              % (len(FIELDS), len(values)))
    tracking = dict(zip(FIELDS, values))
    reference_id = tracking["reference_id"]
    if len(reference_id) != 8 or any(c not in "0123456789ABCDEF" for c in reference_id):
        _fail(name, "the reference ID %r is not 8 hexadecimal digits" % reference_id)
    try:
        tracking["stratum"] = int(tracking["stratum"])
        for field in FLOATS:
            tracking[field] = float(tracking[field])
    except ValueError as exc:
        raise AnsibleFilterError("%s: a number of chronyc -c tracking is not one: %s" % (name, exc)) from exc
    if tracking["leap_status"] not in LEAP_STATUSES:
        _fail(name, "unknown leap status %r" % tracking["leap_status"])
    tracking["direction"] = "slow" if tracking["system_time"] > 0 else "fast"
    tracking["synchronised"] = tracking["leap_status"] != "Not synchronised"
    tracking["local_clock"] = reference_id == LOCAL_REFERENCE_ID
    return tracking


def chrony_tracking(text):
    """``chronyc -c -n tracking`` -> a dict of its fields (FIELDS, numbers as
    numbers) and ``direction``, ``synchronised``, ``local_clock``."""
    if not isinstance(text, str):
        _fail("chrony_tracking", "expected chronyc's output (a string), got %s" % type(text).__name__)
    if not text.strip():
        _fail("chrony_tracking", "chronyc printed nothing")
    return _parse(text, "chrony_tracking")


def _source(tracking):
    if tracking["local_clock"]:
        return "local clock"
    address = tracking["address"]
    try:
        ipaddress.ip_address(address)
    except ValueError:
        # A reference clock: chronyc names it by its reference ID (GPS, PPS...).
        return "reference clock %s" % (address or tracking["reference_id"])
    return address


def chrony_clock_summary(result):
    """status.yml's clock part from the registered result of ``chronyc -c -n
    tracking``: '0.000009219 seconds slow of 10.210.1.10 (stratum 11)',
    'NOT SYNCHRONISED ...' or 'offset unknown (chronyc: ...)'."""
    name = "chrony_clock_summary"
    if not isinstance(result, Mapping):
        _fail(name, "expected the registered result of chronyc (a dict), got %s" % type(result).__name__)
    if result.get("skipped") or "rc" not in result:
        return "offset unknown (chronyc did not run)"
    stdout = result.get("stdout") or ""
    if not isinstance(stdout, str):
        _fail(name, "stdout is %s, not a string" % type(stdout).__name__)
    if result["rc"] != 0:
        # chronyc says why on stdout ("506 Cannot talk to daemon"); a missing
        # chronyc is the command module's msg.
        reason = failure_reason(result)
        return "offset unknown (chronyc: %s)" % reason
    if not stdout.strip():
        return "offset unknown (chronyc printed nothing)"
    tracking = _parse(stdout, name)
    if not tracking["synchronised"]:
        return "NOT SYNCHRONISED (chronyd has selected no time source)"
    text = "%.9f seconds %s of %s (stratum %d)" % (abs(tracking["system_time"]), tracking["direction"],
                                                   _source(tracking), tracking["stratum"])
    if tracking["leap_status"] != "Normal":
        text += ", leap status %s" % tracking["leap_status"]
    return text


class FilterModule:
    """havirt.cluster filters for chrony."""

    def filters(self):
        return {
            "chrony_tracking": chrony_tracking,
            "chrony_clock_summary": chrony_clock_summary,
        }
