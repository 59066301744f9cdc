# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain functions of the pacemaker_status module (and of the filters in
plugins/filter/pacemaker_xml.py, which the pacemaker role reads the
cluster with): the cluster as crm_mon and the CIB's resources section
describe it, as data. No Ansible here, so unit tests feed them real
``crm_mon --output-as=xml`` and ``cibadmin --query --scope resources``
output of pacemaker 2.1.5 (Debian 12) and 3.0.0 (Debian 13).

Only what a resource's meta attributes say is read from the CIB: its
instance attributes may hold secrets (a fence device's password) and are
never returned."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re
import xml.etree.ElementTree as ET

# Pacemaker's time specs (an operation's timeout, failure-timeout): a
# number and a unit, seconds without one.
DURATION = re.compile(r"^\s*(\d+)\s*(ms|msec|s|sec|m|min|h|hr)?\s*$")
SECONDS = {None: 1, "s": 1, "sec": 1, "ms": 0.001, "msec": 0.001, "m": 60, "min": 60, "h": 3600, "hr": 3600}


def duration_seconds(value):
    """Seconds of a pacemaker time spec (90s, 2min, 90), None when it is not one."""
    match = DURATION.match(str(value)) if isinstance(value, (int, str)) and not isinstance(value, bool) else None
    return int(match.group(1)) * SECONDS[match.group(2)] if match else None


# The meta attribute migrate.yml sets on a VM's resource (and its DRBD
# clone) for the length of a move: "SOURCE:DESTINATION". Found on a
# resource outside a move, it says a move was interrupted.
MOVE_MARKER = "havirt-move"


class StatusError(ValueError):
    """Output that cannot be read; the message says why."""


def _bool(value):
    return (value or "").lower() == "true"


def _xml(text, what):
    try:
        return ET.fromstring(text)
    except ET.ParseError as error:
        raise StatusError("%s is not well-formed XML: %s" % (what, error))


def _resource(element, parent=None):
    """One <resource> of crm_mon as a dict. ``target_role`` is the
    resource's target-role meta attribute as written in the CIB ('' when
    it has none); crm_mon prints it only when it is set."""
    return dict(
        id=element.get("id"),
        parent=parent,
        agent=element.get("resource_agent", ""),
        role=element.get("role", ""),
        target_role=element.get("target_role", ""),
        active=_bool(element.get("active")),
        managed=_bool(element.get("managed", "true")),
        maintenance=_bool(element.get("maintenance")),
        failed=_bool(element.get("failed")),
        blocked=_bool(element.get("blocked")),
        nodes=[node.get("name") for node in element.findall("node")],
    )


def parse_crm_mon(text):
    """``crm_mon --one-shot --output-as=xml`` -> dict with ``quorum``,
    ``dc``, ``maintenance_mode``, ``nodes`` (name -> online, standby,
    maintenance, unclean), ``resources`` (id -> a dict per primitive; a
    clone's instances are merged into one entry under the clone's id too,
    with every node it runs on and its promoted nodes), ``failures``."""
    root = _xml(text, "crm_mon's output")
    if root.tag != "pacemaker-result":
        raise StatusError("crm_mon's output starts with <%s>, not <pacemaker-result>" % root.tag)
    summary = root.find("summary")
    dc = summary.find("current_dc") if summary is not None else None
    options = summary.find("cluster_options") if summary is not None else None
    status = dict(
        quorum=dc is not None and _bool(dc.get("with_quorum")),
        dc=dc.get("name", "") if dc is not None and _bool(dc.get("present")) else "",
        maintenance_mode=options is not None and _bool(options.get("maintenance-mode")),
        nodes={},
        resources={},
        failures=[],
    )
    for node in root.iterfind("nodes/node"):
        status["nodes"][node.get("name")] = dict(
            online=_bool(node.get("online")),
            standby=_bool(node.get("standby")),
            maintenance=_bool(node.get("maintenance")),
            unclean=_bool(node.get("unclean")),
        )
    resources = root.find("resources")
    for element in (resources if resources is not None else []):
        if element.tag == "resource":
            status["resources"][element.get("id")] = _resource(element)
        elif element.tag in ("clone", "group", "bundle"):
            children = [_resource(child, element.get("id")) for child in element.iter("resource")]
            for child in children:
                status["resources"].setdefault(child["id"], child)
            status["resources"][element.get("id")] = dict(
                id=element.get("id"),
                parent=None,
                agent=children[0]["agent"] if children else "",
                role="",
                target_role="",
                active=any(c["active"] for c in children),
                managed=_bool(element.get("managed", "true")),
                maintenance=_bool(element.get("maintenance")),
                failed=_bool(element.get("failed")),
                blocked=any(c["blocked"] for c in children),
                nodes=[n for c in children if c["active"] for n in c["nodes"]],
                promoted=[n for c in children if c["role"] in ("Promoted", "Master") for n in c["nodes"]],
            )
    for failure in root.iterfind("failures/failure"):
        status["failures"].append(dict(
            # crm_mon names the failed operation "id" instead when the
            # history entry has no operation key.
            op_key=failure.get("op_key") or failure.get("id", ""),
            node=failure.get("node", ""),
            exitstatus=failure.get("exitstatus", ""),
            exitreason=failure.get("exitreason", ""),
            # When it failed, as crm_mon prints it ("2026-12-04 17:42:52Z").
            last_rc_change=failure.get("last-rc-change", ""),
        ))
    return status


def _resources_section(text):
    root = _xml(text, "cibadmin's resources section")
    if root.tag != "resources":
        raise StatusError("cibadmin's resources section starts with <%s>, not <resources>" % root.tag)
    return root


def parse_meta(text):
    """``cibadmin --query --scope resources`` -> {resource id: {meta
    attribute: value}} for every primitive, clone, group and bundle, at any
    depth. Only meta attributes: instance attributes are never read. A name
    set twice counts once, as pacemaker reads it: the first block's (in
    the CIB's order) and, in a block, the first pair's."""
    meta = {}
    for element in _resources_section(text).iter():
        if element.tag not in ("primitive", "clone", "group", "bundle", "master") or not element.get("id"):
            continue
        values = {}
        for block in element.findall("meta_attributes"):
            for nvpair in block.findall("nvpair"):
                if nvpair.get("name"):
                    values.setdefault(nvpair.get("name"), nvpair.get("value", ""))
        meta[element.get("id")] = values
    return meta


def primitive_ids(text):
    """``cibadmin --query --scope resources`` -> the ids of its primitives,
    at any depth (alone, or in a group, clone or bundle), in the CIB's order."""
    return [element.get("id") for element in _resources_section(text).iter("primitive") if element.get("id")]


def constraint_ids_of(text, resources):
    """``cibadmin --query --scope constraints`` -> the ids of the
    constraints that name any of ``resources`` (as rsc, with-rsc, first,
    then, or in a resource set), in the CIB's order: what must go before
    those resources can be deleted."""
    root = _xml(text, "cibadmin's constraints section")
    if root.tag != "constraints":
        raise StatusError("cibadmin's constraints section starts with <%s>, not <constraints>" % root.tag)
    wanted = set(resources)
    ids = []
    for element in root:
        named = set(element.get(key) for key in ("rsc", "with-rsc", "first", "then"))
        named |= set(ref.get("id") for ref in element.iter("resource_ref"))
        if element.get("id") and named & wanted:
            ids.append(element.get("id"))
    return ids


def parse_node_utilization(text):
    """``cibadmin --query --scope nodes`` -> {node name: {utilization
    attribute: value}}: what each node offers (its capacity) for
    pacemaker's placement-strategy. A node without a utilization block
    maps to {}; a value that is not an integer is kept as text (pacemaker
    reads it as 0). A name set twice counts once, the first pair's."""
    root = _xml(text, "cibadmin's nodes section")
    if root.tag != "nodes":
        raise StatusError("cibadmin's nodes section starts with <%s>, not <nodes>" % root.tag)
    nodes = {}
    for node in root.findall("node"):
        name = node.get("uname") or node.get("id")
        values = {}
        for block in node.findall("utilization"):
            for nvpair in block.findall("nvpair"):
                if nvpair.get("name"):
                    values.setdefault(nvpair.get("name"), _number(nvpair.get("value", "")))
        nodes[name] = values
    return nodes


def _number(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def parse_property(text, name, default=""):
    """``cibadmin --query --scope crm_config`` -> the value of the cluster
    property ``name`` (the first set's, in the CIB's order), or
    ``default`` when no set has it."""
    root = _xml(text, "cibadmin's crm_config section")
    if root.tag != "crm_config":
        raise StatusError("cibadmin's crm_config section starts with <%s>, not <crm_config>" % root.tag)
    for block in root.findall("cluster_property_set"):
        for nvpair in block.findall("nvpair"):
            if nvpair.get("name") == name:
                return nvpair.get("value", "")
    return default


def parse_resource_defaults(text):
    """``cibadmin --query --scope rsc_defaults`` -> {meta attribute: value}
    that every resource takes unless it sets its own. A name set twice
    counts once, as pacemaker reads it: the first block's (in the CIB's
    order); a block with a rule (it applies only sometimes) is left out."""
    root = _xml(text, "cibadmin's rsc_defaults section")
    if root.tag != "rsc_defaults":
        raise StatusError("cibadmin's rsc_defaults section starts with <%s>, not <rsc_defaults>" % root.tag)
    values = {}
    for block in root.findall("meta_attributes"):
        if block.find("rule") is not None:
            continue
        for nvpair in block.findall("nvpair"):
            if nvpair.get("name"):
                values.setdefault(nvpair.get("name"), nvpair.get("value", ""))
    return values


def failure_timeout(status, rid):
    """The ``failure-timeout`` that applies to resource ``rid`` (its own
    meta attribute, else the resource defaults'), as the CIB writes it
    ("10min"); '' when failures are kept until cleaned up (none, or a
    duration of 0 in any unit)."""
    own = ((status.get("resources") or {}).get(rid) or {}).get("meta") or {}
    value = str(own.get("failure-timeout", (status.get("resource_defaults") or {}).get("failure-timeout", ""))).strip()
    return "" if value == "" or duration_seconds(value) == 0 else value


def _start_failures(status, rid):
    """The failures of a parse_crm_mon() result that are starts of ``rid``."""
    return [failure for failure in status.get("failures") or []
            if str(failure.get("op_key") or "").startswith(rid + "_start_")]


def failed_start_times(status, rid):
    """{node: when its start of ``rid`` failed, as crm_mon prints it} for
    the failures failed_starts() lists."""
    return dict((failure.get("node") or "?", failure.get("last_rc_change") or "")
                for failure in _start_failures(status, rid))


def failed_starts(status, rid):
    """The failed starts of resource ``rid`` in a parse_crm_mon() result:
    [node, the agent's reason] each (pacemaker starts it on none of those
    nodes again until the failures are cleared)."""
    return [[failure.get("node") or "?",
             (failure.get("exitreason") or failure.get("exitstatus") or "no reason given").rstrip(". ")]
            for failure in _start_failures(status, rid)]


def online_nodes(status):
    """The names of the nodes online in a parse_crm_mon() result, sorted."""
    return sorted(name for name, node in status["nodes"].items() if node["online"])


def merge(status, meta):
    """crm_mon's view with each resource's meta attributes (``meta``) and
    the move marker, if any, as ``move`` ({"from", "to"} or None)."""
    for rid, resource in status["resources"].items():
        resource["meta"] = meta.get(rid, {})
        resource["move"] = parse_move(resource["meta"].get(MOVE_MARKER, ""))
    for rid, values in meta.items():
        status["resources"].setdefault(rid, dict(
            id=rid, parent=None, agent="", role="", target_role=values.get("target-role", ""), active=False,
            managed=values.get("is-managed", "true") != "false",
            maintenance=_bool(values.get("maintenance")), failed=False, blocked=False, nodes=[],
            meta=values, move=parse_move(values.get(MOVE_MARKER, ""))))
    return status


def parse_move(value):
    """``"servvirt1:servvirt2"`` -> {"from": "servvirt1", "to": "servvirt2"}; '' -> None."""
    if not value:
        return None
    source, dummy, destination = value.partition(":")
    return {"from": source, "to": destination}


def unwatched(resource):
    """Why the cluster does not watch a resource now ('' when it does):
    in maintenance, unmanaged, or left in the middle of a move."""
    if not resource:
        return ""
    reasons = []
    if resource.get("move"):
        reasons.append("a move %s -> %s was interrupted" % (resource["move"]["from"], resource["move"]["to"]))
    maintenance = bool(resource.get("maintenance") or _bool(resource.get("meta", {}).get("maintenance")))
    if maintenance:
        reasons.append("in maintenance")
    # crm_mon says managed="false" of a resource in maintenance too: said
    # only when is-managed is set, or when nothing else explains it.
    if resource.get("meta", {}).get("is-managed") == "false" or (not resource.get("managed", True) and not maintenance):
        reasons.append("unmanaged")
    return ", ".join(reasons)
