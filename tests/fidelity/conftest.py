"""The site every fidelity test loads: one counting server with a listener per role, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.counting_server import CountingServer
from support.fidelity import ADDRESSES


@pytest.fixture(scope="session")
def site_server() -> Iterator[CountingServer]:
    with CountingServer(*ADDRESSES) as server:
        yield server


@pytest.fixture
def site(site_server: CountingServer) -> CountingServer:
    """The server with every count at zero."""
    site_server.reset()
    return site_server
