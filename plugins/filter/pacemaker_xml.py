# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pacemaker's XML (crm_mon's and the CIB's) read in Python for the roles'
decisions, through the one parser the pacemaker_status module uses
(module_utils/pacemaker_status.py), never with regular expressions; and
stonith_admin's fencing history (module_utils/pacemaker_fencing.py), which
status.yml prints.

Each filter is documented in the .yml file of its name beside this one.
An empty text (a command that was skipped, or that printed nothing) means
nothing: no resources, no nodes, no quorum. A text that is not the XML
expected fails with what is wrong with it, never with the text itself
(the resources section holds the fence devices' passwords)."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.module_utils.command_result import failure_reason
from ansible_collections.havirt.cluster.plugins.module_utils.pacemaker_fencing import (
    FencerUnavailable, describe_event, parse_fence_history)
from ansible_collections.havirt.cluster.plugins.module_utils.pacemaker_status import (
    StatusError, constraint_ids_of, failed_starts, online_nodes, parse_crm_mon, parse_meta, primitive_ids)


def _text(value, name):
    if value is None:
        return ""
    if not isinstance(value, str):
        raise AnsibleFilterError("%s: expected a command's output (a string), got %s" % (name, type(value).__name__))
    return value.strip()


def _crm_mon(value, name):
    """parse_crm_mon() of ``value``, or None when it is empty."""
    text = _text(value, name)
    if not text:
        return None
    try:
        return parse_crm_mon(text)
    except StatusError as exc:
        raise AnsibleFilterError("%s: %s" % (name, exc)) from exc


def cib_primitive_ids(value, prefix=""):
    """The primitives' ids in ``cibadmin --query --scope resources``; with a
    prefix only those that start with it, without it."""
    text = _text(value, "cib_primitive_ids")
    if not text:
        return []
    try:
        ids = primitive_ids(text)
    except StatusError as exc:
        raise AnsibleFilterError("cib_primitive_ids: %s" % exc) from exc
    return [rid[len(prefix):] for rid in ids if rid.startswith(prefix) and len(rid) > len(prefix)]


def cib_constraints_of(value, ids):
    """The ids of the constraints in ``cibadmin --query --scope
    constraints`` that name any of the resources ``ids``."""
    text = _text(value, "cib_constraints_of")
    if not text:
        return []
    try:
        return constraint_ids_of(text, list(ids or []))
    except StatusError as exc:
        raise AnsibleFilterError("cib_constraints_of: %s" % exc) from exc


def cib_meta_attributes(value, resource_id):
    """One resource's meta attributes in ``cibadmin --query --scope
    resources``, as a dict ({} when the resource is not there)."""
    text = _text(value, "cib_meta_attributes")
    if not text:
        return {}
    try:
        return parse_meta(text).get(resource_id, {})
    except StatusError as exc:
        raise AnsibleFilterError("cib_meta_attributes: %s" % exc) from exc


def crm_mon_online_nodes(value):
    """The names of the nodes crm_mon says are online, sorted."""
    status = _crm_mon(value, "crm_mon_online_nodes")
    return online_nodes(status) if status else []


def crm_mon_quorum(value):
    """Whether crm_mon says the cluster has quorum."""
    status = _crm_mon(value, "crm_mon_quorum")
    return bool(status and status["quorum"])


def _started(resource):
    return resource["role"] == "Started" and resource["active"]


def _stopped_on_purpose(resource):
    # Pacemaker reads a role in any case (target-role=stopped stops it too).
    return resource["target_role"].lower() == "stopped"


def _not_started(status, ids):
    resources = status["resources"] if status else {}
    waiting = []
    for rid in ids:
        resource = resources.get(rid)
        if resource is None or not (_started(resource) or _stopped_on_purpose(resource)):
            waiting.append(rid)
    return waiting


def crm_mon_not_started(value, ids):
    """Of the resources ``ids``, those crm_mon does not show started and
    active, leaving out those whose target-role is Stopped (stopped on
    purpose, never to be waited for); in the order of ``ids``."""
    return _not_started(_crm_mon(value, "crm_mon_not_started"), ids)


def crm_mon_failed_starts(value, ids):
    """Of the resources ``ids``, those that are not started (nor stopped
    on purpose) and whose start failed on some node: pacemaker leaves them
    stopped until their failures are cleared. {id: [[node, reason], ...]},
    in the order of ``ids``."""
    status = _crm_mon(value, "crm_mon_failed_starts")
    if not status:
        return {}
    failed = ((rid, failed_starts(status, rid)) for rid in _not_started(status, ids))
    return dict((rid, nodes) for rid, nodes in failed if nodes)


def crm_mon_active(value, ids):
    """Of the resources ``ids``, those crm_mon shows active on some node
    (running, starting, stopping or failed there), in the order of ``ids``."""
    status = _crm_mon(value, "crm_mon_active")
    resources = status["resources"] if status else {}
    return [rid for rid in ids if rid in resources and (resources[rid]["active"] or resources[rid]["nodes"])]


def fence_history(value):
    """The events of ``stonith_admin --history '*' --verbose --output-as=xml``
    (pending first, then newest first, as pacemaker orders them); a history
    that could not be read (the fencer not running) fails, saying why."""
    text = _text(value, "fence_history")
    if not text:
        return []
    try:
        return parse_fence_history(text)
    except StatusError as exc:
        raise AnsibleFilterError("fence_history: %s" % exc) from exc


def fence_history_summary(result, count=3):
    """status.yml's fencing history: the first ``count`` events of the
    registered result of ``stonith_admin --history '*' --verbose
    --output-as=xml``, each as stonith_admin's text says it, joined with
    ' | '; 'none' when there is none; 'unknown (...)' with stonith_admin's
    reason when the history could not be read."""
    if not isinstance(result, Mapping):
        raise AnsibleFilterError("fence_history_summary: expected the registered result of stonith_admin (a dict), "
                                 "got %s" % type(result).__name__)
    if result.get("skipped") or "rc" not in result:
        return "unknown (stonith_admin did not run)"
    stdout = result.get("stdout") or ""
    if not isinstance(stdout, str):
        raise AnsibleFilterError("fence_history_summary: stdout is %s, not a string" % type(stdout).__name__)
    try:
        events = parse_fence_history(stdout) if stdout.strip() else None
    except FencerUnavailable as exc:
        return "unknown (stonith_admin: %s)" % exc
    except StatusError as exc:
        if result["rc"] == 0:
            raise AnsibleFilterError("fence_history_summary: %s" % exc) from exc
        events = None
    if events is None:
        if result["rc"] == 0:
            return "unknown (stonith_admin printed nothing)"
        reason = failure_reason(result)
        return "unknown (stonith_admin: %s)" % reason
    return " | ".join(describe_event(event) for event in events[:int(count)]) or "none"


class FilterModule:
    """havirt.cluster filters for pacemaker's XML."""

    def filters(self):
        return {
            "cib_primitive_ids": cib_primitive_ids,
            "cib_meta_attributes": cib_meta_attributes,
            "cib_constraints_of": cib_constraints_of,
            "crm_mon_active": crm_mon_active,
            "crm_mon_failed_starts": crm_mon_failed_starts,
            "crm_mon_online_nodes": crm_mon_online_nodes,
            "crm_mon_quorum": crm_mon_quorum,
            "crm_mon_not_started": crm_mon_not_started,
            "fence_history": fence_history,
            "fence_history_summary": fence_history_summary,
        }
