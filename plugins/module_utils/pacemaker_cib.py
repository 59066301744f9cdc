# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain functions of the pacemaker_cib module: find one element of a CIB's
configuration, compare two elements by meaning (attribute order, white space
and comments do not count) and decide what cibadmin must do. No Ansible
here, so unit tests feed them real ``cibadmin --query`` output."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import xml.etree.ElementTree as ET

SECTIONS = ("crm_config", "rsc_defaults", "op_defaults", "nodes", "resources", "constraints",
            "fencing-topology", "tags", "alerts")


class CibError(ValueError):
    """Input or CIB that cannot be used; the message says why."""


def parse_element(text):
    """The one element of ``text``; it must have an id."""
    try:
        element = ET.fromstring(text)
    except ET.ParseError as error:
        raise CibError("the XML given is not well-formed: %s" % error)
    if not element.get("id"):
        raise CibError("the XML given has no id attribute on its top element <%s>: every element the module "
                       "manages is found by its id" % element.tag)
    return element


def find(cib_text, section, element_id):
    """(section found, element or None) in a ``cibadmin --query`` output."""
    try:
        cib = ET.fromstring(cib_text)
    except ET.ParseError as error:
        raise CibError("cibadmin returned a CIB that is not well-formed XML: %s" % error)
    configuration = cib.find("configuration")
    if configuration is None:
        raise CibError("cibadmin returned XML without a <configuration> section (top element <%s>)" % cib.tag)
    holder = configuration.find(section)
    if holder is None:
        return False, None
    for child in holder:
        if child.get("id") == element_id:
            return True, child
    return True, None


def canonical(element):
    """A comparable form of an element: tag, attributes (sorted), the
    children in order; text only where it is not white space."""
    text = (element.text or "").strip()
    return (element.tag, tuple(sorted(element.attrib.items())), text,
            tuple(canonical(child) for child in element if isinstance(child.tag, str)))


def same(a, b):
    return canonical(a) == canonical(b)


def pretty(element):
    """Indented XML of an element, attributes in a stable order (for --diff)."""
    if element is None:
        return ""
    lines = []

    def walk(node, depth):
        attrs = "".join(' %s="%s"' % (k, _escape(v)) for k, v in sorted(node.attrib.items(), key=_attr_order))
        children = [c for c in node if isinstance(c.tag, str)]
        text = (node.text or "").strip()
        if not children and not text:
            lines.append("%s<%s%s/>" % ("  " * depth, node.tag, attrs))
            return
        lines.append("%s<%s%s>%s" % ("  " * depth, node.tag, attrs, _escape(text)))
        for child in children:
            walk(child, depth + 1)
        lines.append("%s</%s>" % ("  " * depth, node.tag))
    walk(element, 0)
    return "\n".join(lines) + "\n"


def _attr_order(item):
    # id first, then name/value pairs as people read them, then the rest.
    order = {"id": 0, "name": 1, "value": 2}
    return (order.get(item[0], 3), item[0])


def _escape(value):
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;"))


def plan(cib_text, section, wanted=None, element_id=None):
    """What to do for one element: a dict with ``action`` (``none``,
    ``create``, ``create-section``, ``replace`` or ``delete``), ``before``
    (the element now, or None) and ``after`` (the element wanted, or None).
    ``wanted`` is the element for state=present, ``element_id`` the id
    for state=absent."""
    if section not in SECTIONS:
        raise CibError("unknown CIB section %r; one of: %s" % (section, ", ".join(SECTIONS)))
    element_id = wanted.get("id") if wanted is not None else element_id
    has_section, current = find(cib_text, section, element_id)
    if wanted is None:
        return {"action": "delete" if current is not None else "none", "before": current, "after": None}
    if current is None:
        return {"action": "create" if has_section else "create-section", "before": None, "after": wanted}
    if current.tag != wanted.tag:
        raise CibError("the CIB's %s already has an element with id %r, but it is a <%s>, not a <%s>: ids are "
                       "unique in the whole CIB; choose another id or remove that element first"
                       % (section, element_id, current.tag, wanted.tag))
    return {"action": "none" if same(current, wanted) else "replace", "before": current, "after": wanted}


def command(action, section, wanted=None, current=None):
    """(cibadmin arguments, XML to pipe in) for a planned action. The XML
    goes through stdin (--xml-pipe), never the command line, so that a
    fence device's password never shows in the process list."""
    if action == "create":
        return ["--create", "--scope", section, "--xml-pipe"], ET.tostring(wanted, encoding="unicode")
    if action == "create-section":
        holder = ET.Element(section)
        holder.append(wanted)
        return ["--create", "--scope", "configuration", "--xml-pipe"], ET.tostring(holder, encoding="unicode")
    if action == "replace":
        return ["--replace", "--scope", section, "--xml-pipe"], ET.tostring(wanted, encoding="unicode")
    if action == "delete":
        stub = ET.Element(current.tag, {"id": current.get("id")})
        return ["--delete", "--scope", section, "--xml-pipe"], ET.tostring(stub, encoding="unicode")
    raise CibError("nothing to run for action %r" % action)
