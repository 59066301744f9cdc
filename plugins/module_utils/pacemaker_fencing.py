# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain functions for pacemaker's fencing history, as
``stonith_admin --history '*' --verbose --output-as=xml`` prints it (the
pacemaker_xml filters' fence_history and fence_history_summary, which
status.yml prints the history with). No Ansible here, so unit tests feed
them real output of pacemaker 2.1.5 (Debian 12).

What stonith_admin prints (lib/pacemaker/pcmk_fence.c pcmk__fence_history,
lib/fencing/st_output.c stonith_event_xml, both 2.1.5 and 3.x):

* ``<pacemaker-result>`` holding one ``<list name="fencing history"
  count="N">`` of ``<fence_event>`` elements, then ``<status code="0"
  message="OK"/>``. The list is named after the title pcmk__fence_history
  gives it, "Fencing history" (2.0), lowered by 2.1.5 and in the 2025
  sources; its name is compared in any case, its count is not read.
* Without ``--verbose`` the list holds one event only: the last successful
  one in pacemaker's order, which is the OLDEST success (seen with 2.1.5),
  so the history is always asked with ``--verbose``.
* The events come pending first, then completed ones newest first
  (stonith__sort_history); that order is kept.
* ``<fence_event action= target= client= origin= status=>``, ``status``
  one of ``success``, ``failed``, ``pending``; ``exit-reason`` on a failed
  event when the fencer has one, ``extended-status`` on a pending one,
  ``delegate`` (the node that fenced) and ``completed`` (a time stamp, with
  microseconds from pacemaker 3.0) on completed ones.
* When the fencer cannot be asked (pacemaker not running) stonith_admin
  exits 102 and prints no list, ``<status code="102" message="Not
  connected">`` with the reason in ``<errors><error>``."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import xml.etree.ElementTree as ET

from ansible_collections.havirt.cluster.plugins.module_utils.pacemaker_status import StatusError

# lib/fencing/st_output.c state_str(): the word each status is said with.
STATE_WORDS = {"success": "successful", "failed": "failed", "pending": "pending"}
# stonith_action_str() (2.1) and history_action_text() (3.x).
ACTION_WORDS = {"on": "unfencing", "off": "turning off"}


class FencerUnavailable(StatusError):
    """stonith_admin answered, but could not read the history; the message is
    its own reason (``Could not connect to fencer: ...``)."""


def _root(text):
    try:
        root = ET.fromstring(text)
    except ET.ParseError as error:
        raise StatusError("stonith_admin's output is not well-formed XML: %s" % error)
    if root.tag != "pacemaker-result":
        raise StatusError("stonith_admin's output starts with <%s>, not <pacemaker-result>" % root.tag)
    return root


def parse_fence_history(text):
    """``stonith_admin --history '*' --verbose --output-as=xml`` -> the list of
    events, each a dict with ``action``, ``target``, ``status`` (success,
    failed, pending), ``exit_reason``, ``delegate``, ``client``, ``origin``
    and ``completed`` ('' where pacemaker leaves an attribute out), in
    pacemaker's order. Raises FencerUnavailable when the document says the
    history could not be read, StatusError when it is not that document."""
    root = _root(text)
    status = root.find("status")
    if status is None:
        raise StatusError("stonith_admin's output has no <status>")
    if status.get("code", "") != "0":
        errors = [error.text.strip() for error in status.iterfind("errors/error") if (error.text or "").strip()]
        raise FencerUnavailable("; ".join(errors) or status.get("message", "") or "status %s" % status.get("code"))
    # "fencing history" (2.1.5, the 2025 sources), "Fencing history" (2.0): the list's title.
    history = [element for element in root.findall("list") if element.get("name", "").lower() == "fencing history"]
    if len(history) != 1:
        raise StatusError("stonith_admin's output has no fencing history list (is it stonith_admin --history?)")
    events = []
    for event in history[0].iter("fence_event"):
        if event.get("status") not in STATE_WORDS or not event.get("action") or not event.get("target"):
            raise StatusError("a <fence_event> without an action, a target or a known status (%s)"
                              % ", ".join(sorted(event.attrib)))
        events.append(dict(
            action=event.get("action"),
            target=event.get("target"),
            status=event.get("status"),
            exit_reason=event.get("exit-reason", ""),
            delegate=event.get("delegate", ""),
            client=event.get("client", ""),
            origin=event.get("origin", ""),
            completed=event.get("completed", ""),
        ))
    return events


def describe_event(event):
    """One event in the words of ``stonith_admin --history '*' --verbose``
    (stonith__history_description with the technical details), e.g.
    ``reboot of servvirt2 successful: delegate=servdb,
    client=pacemaker-controld.2761, origin=servdb, completed='...'``."""
    text = "%s of %s %s" % (ACTION_WORDS.get(event["action"], event["action"]), event["target"],
                            STATE_WORDS[event["status"]])
    if event["status"] == "failed" and event["exit_reason"]:
        text += " (%s)" % event["exit_reason"]
    details = []
    if event["status"] != "pending" and event["delegate"]:
        details.append("delegate=%s" % event["delegate"])
    details.append("client=%s" % event["client"])
    details.append("origin=%s" % event["origin"])
    if event["status"] != "pending" and event["completed"]:
        details.append("completed='%s'" % event["completed"])
    return "%s: %s" % (text, ", ".join(details))
