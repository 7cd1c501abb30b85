"""The database and the processes of the real local stack, locked down: PostgreSQL asks every
client for its password, each service logs in as a role of its own that reaches its own schema
and nothing else, a cluster made before passwords is upgraded in place, and every process
listens on loopback with the stack's internal secret in its environment."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from devstack import postgres
from devstack.kept import secret_path
from devstack.stack import SERVICES, Stack

pytestmark = pytest.mark.integration

SCHEMAS = ("usage", "invoicing", "payments", "notifier", "gateway")
NO_PASSFILE = "/nonexistent/pgpass"
"""So that asyncpg finds no password anywhere but where the test puts it."""


@pytest.fixture(autouse=True)
def _no_password_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", NO_PASSFILE)


async def _refused(**connect: object) -> None:
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
        conn = await asyncpg.connect(passfile=NO_PASSFILE, **connect)  # type: ignore[arg-type]
        await conn.close()


async def _accepts_without_password(port: int) -> bool:
    try:
        conn = await asyncpg.connect(
            host="127.0.0.1",
            port=port,
            user=postgres.SUPERUSER,
            database=postgres.DATABASE,
            passfile=NO_PASSFILE,
        )
    except asyncpg.InvalidAuthorizationSpecificationError:
        return False
    await conn.close()
    return True


async def test_no_password_or_a_wrong_one_is_refused(stack: Stack) -> None:
    c = stack.config
    sockets = str(c.home / "postgres" / "sock")
    for role in (postgres.SUPERUSER, "billport_payments"):
        where = {"port": c.pg_port, "user": role, "database": postgres.DATABASE}
        await _refused(host="127.0.0.1", **where)
        await _refused(host="127.0.0.1", password="wrong-password-0123456789", **where)
        await _refused(host=sockets, **where)  # the socket asks for it too
        # The password of another role does not open this one.
        other = "billport_usage" if role != "billport_usage" else "billport_gateway"
        await _refused(host="127.0.0.1", password=c.db_password(other), **where)
    conn = await asyncpg.connect(c.service_dsn("payments"))
    assert await conn.fetchval("SELECT current_user") == "billport_payments"
    await conn.close()


async def test_each_service_role_reaches_its_own_schema_and_nothing_else(
    stack: Stack, db: asyncpg.Pool
) -> None:
    roles = await db.fetch(
        "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, rolbypassrls"
        " FROM pg_roles WHERE rolname LIKE 'billport\\_%' ORDER BY rolname"
    )
    assert [tuple(r) for r in roles] == [
        (f"billport_{s}", False, False, False, True, False) for s in sorted(SCHEMAS)
    ]
    for schema in SCHEMAS:
        owners = await db.fetch(
            "SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1",
            schema,
        )
        assert [o[0] for o in owners] == [f"billport_{schema}"]
        applied = await db.fetchval(f"SELECT count(*) FROM {schema}.schema_migrations")

        conn = await asyncpg.connect(stack.config.service_dsn(schema))
        try:
            assert await conn.fetchval(f"SELECT count(*) FROM {schema}.schema_migrations") == (
                applied
            )
            await conn.execute(f"CREATE TABLE {schema}.own_probe (a int)")
            await conn.execute(f"DROP TABLE {schema}.own_probe")
            for other in SCHEMAS:
                if other == schema:
                    continue
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.fetchval(f"SELECT count(*) FROM {other}.schema_migrations")
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute(f"CREATE TABLE {other}.intruder (a int)")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("CREATE TABLE public.intruder (a int)")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("CREATE SCHEMA intruder")
        finally:
            await conn.close()

    # The two the issue names, on tables that hold data.
    payments = await asyncpg.connect(stack.config.service_dsn("payments"))
    usage = await asyncpg.connect(stack.config.service_dsn("usage"))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="schema invoicing"):
            await payments.fetch("SELECT * FROM invoicing.invoices")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="schema payments"):
            await usage.execute("CREATE TABLE payments.stolen (a int)")
    finally:
        await payments.close()
        await usage.close()


async def test_a_cluster_from_before_passwords_is_upgraded_in_place(
    stack: Stack, db: asyncpg.Pool
) -> None:
    """As `make run` finds a developer's older `.local`: trust for everyone, and objects the
    superuser made in a service's schema. Starting again secures it, data kept."""
    c = stack.config
    pgdata = c.home / "postgres" / "pgdata"
    hba = pgdata / "pg_hba.conf"
    owner = hba.stat()
    hba.write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
    os.chown(hba, owner.st_uid, owner.st_gid)
    await db.execute("SELECT pg_reload_conf()")
    await db.execute("CREATE TABLE payments.legacy_probe (id bigserial PRIMARY KEY, note text)")
    await db.execute("INSERT INTO payments.legacy_probe (note) VALUES ('kept')")
    await db.execute("CREATE FUNCTION payments.legacy_fn() RETURNS int LANGUAGE sql AS 'SELECT 7'")
    try:
        assert await _accepts_without_password(c.pg_port)  # the old, open cluster

        postgres.start(c.home / "postgres", c.pg_port, c.db_passwords())

        assert hba.read_text() == postgres.HBA
        assert not await _accepts_without_password(c.pg_port)
        payments = await asyncpg.connect(c.service_dsn("payments"))
        try:
            assert await payments.fetchval("SELECT note FROM payments.legacy_probe") == "kept"
            assert await payments.fetchval("SELECT payments.legacy_fn()") == 7
            await payments.execute("INSERT INTO payments.legacy_probe (note) VALUES ('new')")
        finally:
            await payments.close()
        owners = await db.fetch(
            "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c"
            " WHERE c.relname LIKE 'legacy\\_probe%' ORDER BY 1"
        )
        assert [tuple(o) for o in owners] == [
            ("legacy_probe", "billport_payments"),
            ("legacy_probe_id_seq", "billport_payments"),
            ("legacy_probe_pkey", "billport_payments"),
        ]
    finally:
        await db.execute("DROP TABLE IF EXISTS payments.legacy_probe")
        await db.execute("DROP FUNCTION IF EXISTS payments.legacy_fn()")
        if hba.read_text() != postgres.HBA:
            postgres.start(c.home / "postgres", c.pg_port, c.db_passwords())


def _listening(port: int) -> set[str]:
    """The local addresses a TCP socket listens on at `port` (IPv4 and IPv6), from /proc."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_processes_listen_on_loopback_and_share_the_internal_secret(stack: Stack) -> None:
    c = stack.config
    loopback = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it (little-endian)
    for service in SERVICES:
        assert _listening(c.service_port(service, 0)) == {loopback}, service
    assert _listening(c.gateway_port) == {loopback}
    assert _listening(c.pg_port) == {loopback}

    secret = c.internal_secret
    assert len(secret) >= 32
    envs = {name: p.env for name, p in stack.procs.items() if name not in ("kafka", "smtp-inbox")}
    assert set(envs) == {f"{s}-0" for s in SERVICES} | {"gateway"}
    for name, env in envs.items():
        service = name.removesuffix("-0")
        assert env["BILLPORT_INTERNAL_SECRET"] == secret, name
        url = urlsplit(env[f"BILLPORT_{service.upper()}_DATABASE_URL"])
        assert (url.username, url.password) == (
            f"billport_{service}",
            c.db_password(f"billport_{service}"),
        )
    kept = [secret_path(c.home, "internal-secret")] + [
        secret_path(c.home, f"postgres-{role}") for role in c.db_passwords()
    ]
    for path in kept:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(secret_path(c.home, "x").parent.stat().st_mode) == 0o700
    # Every secret differs from every other.
    assert len({p.read_text() for p in kept}) == len(kept) == 7
