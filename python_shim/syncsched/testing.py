"""pytest plugin: a throwaway PostgreSQL with pg_cron and syncsched installed.

Fixtures:
- `syncsched_server` (session): the server. Local throwaway cluster by default;
  `SYNCSCHED_TEST_DSN` points at an existing server (a superuser DSN);
  `SYNCSCHED_TEST_BACKEND=docker` builds the Dockerfile shipped in this package
  with testcontainers.
- `syncsched_dsn` (function): a fresh database cloned from a migrated template
  (`CREATE DATABASE ... TEMPLATE`), dropped after the test.

Registered through the `pytest11` entry point, so projects that depend on
syncsched get the fixtures without configuration.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from syncsched import db, localpg, queries
from syncsched.errors import PrerequisiteError
from syncsched.migrate import migrate

TEST_EXTENSIONS = ("pgtap", "plpgsql_check")
_counter = itertools.count()


@dataclass
class TestServer:
    """A server for tests: `admin_dsn` is a superuser DSN to its maintenance database."""

    __test__ = False  # not a test class

    admin_dsn: str
    cluster: localpg.LocalCluster | None = None
    template: str | None = None

    def dsn(self, dbname: str) -> str:
        return db.with_database(self.admin_dsn, dbname)

    def create_database(self, name: str, *, template: str | None = None) -> str:
        with db.connect(self.admin_dsn) as conn:
            db.drop_database(conn, name)
            db.create_database(conn, name, template)
        return self.dsn(name)

    def drop_database(self, name: str) -> None:
        with db.connect(self.admin_dsn) as conn:
            db.drop_database(conn, name)

    def migrated_template(self) -> str:
        """Create (once) the template database: migrated, with the test extensions."""
        if self.template is None:
            name = f"syncsched_template_{os.getpid()}"
            dsn = self.create_database(name)
            migrate(dsn)
            with db.connect(dsn) as conn:
                for extension in TEST_EXTENSIONS:
                    if not db.fetch_value(conn, queries.EXTENSION_AVAILABLE, (extension,)):
                        raise PrerequisiteError(
                            f"{extension} is not installed on the test server (Debian: "
                            f"apt-get install postgresql-15-{extension.replace('_', '-')})"
                        )
                    db.execute(conn, queries.CREATE_EXTENSION.format(name=extension))
            self.template = name
        return self.template

    def fresh_database(self) -> tuple[str, str]:
        """A new database cloned from the migrated template: (name, dsn)."""
        template = self.migrated_template()
        name = f"syncsched_test_{os.getpid()}_{next(_counter)}"
        return name, self.create_database(name, template=template)


def _docker_server() -> Iterator[TestServer]:
    try:
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.image import DockerImage
        from testcontainers.core.waiting_utils import wait_for_logs
    except ImportError as exc:  # pragma: no cover - optional backend
        raise PrerequisiteError(
            "SYNCSCHED_TEST_BACKEND=docker needs testcontainers: pip install 'syncsched[docker]'"
        ) from exc
    context = Path(__file__).parent
    with DockerImage(path=str(context), dockerfile_path="Dockerfile", tag="syncsched-test-pg") as image:
        container = DockerContainer(str(image)).with_exposed_ports(5432)
        container = container.with_env("POSTGRES_HOST_AUTH_METHOD", "trust")
        with container:
            wait_for_logs(container, "database system is ready to accept connections", timeout=120)
            host = container.get_container_host_ip()
            port = container.get_exposed_port(5432)
            yield TestServer(f"host={host} port={port} user=postgres dbname=postgres")


def server_from_environment() -> Iterator[TestServer]:
    """The test server chosen by SYNCSCHED_TEST_DSN / SYNCSCHED_TEST_BACKEND."""
    external = os.environ.get("SYNCSCHED_TEST_DSN")
    backend = os.environ.get("SYNCSCHED_TEST_BACKEND", "local")
    if external:
        yield TestServer(external)
    elif backend == "docker":
        yield from _docker_server()
    elif backend == "local":
        with localpg.throwaway() as cluster:
            yield TestServer(cluster.dsn("postgres"), cluster=cluster)
    else:
        raise PrerequisiteError(f"SYNCSCHED_TEST_BACKEND={backend!r}: expected 'local' or 'docker'")


@pytest.fixture(scope="session")
def syncsched_server() -> Iterator[TestServer]:
    yield from server_from_environment()


@pytest.fixture
def syncsched_dsn(syncsched_server: TestServer) -> Iterator[str]:
    name, dsn = syncsched_server.fresh_database()
    try:
        yield dsn
    finally:
        syncsched_server.drop_database(name)
