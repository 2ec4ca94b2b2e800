"""Fixtures of the integration tests beyond tests/conftest.py: the two-node tests
(`*_nodes.py`) start their nodes with the scale-out suite's (tests/scale/conftest.py), a
store of the module's own (`pg_url`, or `cassandra_url` for tests parametrised with
`STORES`) and the session's broker; none of them is autouse."""

from tests.scale.conftest import (  # noqa: F401 (fixtures used by name)
    cassandra_url,
    empty_db,
    make_node,
    patient_settling,
    pg_url,
    prefix,
    scale_store,
)
