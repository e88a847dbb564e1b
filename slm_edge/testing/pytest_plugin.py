"""Pytest plugin: a private adb server (its own port, so a developer's server and phones are
untouched) and an emulated phone connected to it with `adb connect`.

In a conftest.py:  pytest_plugins = ["slm_edge.testing.pytest_plugin"]
Then a test takes `emulated_phone` (an EmulatedPhone: serial, root, adb_port, adb(), device,
set_faults(), restart(), ...) or `adb_server` (an AdbServer, to connect phones of its own).
"""

from __future__ import annotations

import pytest

from slm_edge.testing.harness import AdbServer, EmulatedPhone


@pytest.fixture(scope="session")
def adb_server():
    server = AdbServer().start()
    yield server
    server.stop()


@pytest.fixture
def emulated_phone(adb_server, tmp_path):
    phone = EmulatedPhone(adb_server, tmp_path / "phone").connect()
    yield phone
    phone.close()
