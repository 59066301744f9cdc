# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a registered command result says of its own failure, for the
filters that print a status line from one (chrony, stonith_admin)."""

from __future__ import annotations


def failure_reason(result):
    """The first non-empty line of the result's stderr, then stdout (chronyc
    says "506 Cannot talk to daemon" there), then the command module's msg
    (a missing command); "exit code N" when all are empty."""
    for text in (result.get("stderr"), result.get("stdout"), result.get("msg")):
        for line in (text or "").splitlines():
            if line.strip():
                return line.strip()
    return "exit code %s" % result.get("rc")
