"""The labs' helper library (tools/labkit): shared by both labs' verify steps
and by the benchmarks (tools/bench). Importing the package makes
the checkout importable as ansible_collections.havirt.cluster, so the tests
read command output with the modules' own parsers.

Through Ansible's own collection loader, installed here once, before any
test module imports the collection: the inventory helper needs that loader
too (for ansible.utils filters), and a collection package first imported
past it cannot be found by it afterwards ("collection metadata was not
loaded"), which depended on the order pytest collected the test files in."""

from pathlib import Path

from ansible.plugins.loader import init_plugin_loader

init_plugin_loader([str(Path(__file__).resolve().parents[2] / "collections")])
