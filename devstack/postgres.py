"""A private PostgreSQL 15 cluster in a project folder, on its own port.

Every connection proves a password (scram-sha-256, TCP and socket alike), and each service
logs in as a role of its own that owns its schema and nothing else
(`deploy/postgres/roles.sql`, the same script a real deployment runs). The superuser
`billport` is for the stack itself and for tests' assertions.

initdb and postgres refuse to run as root: as root we run them as the `postgres` user on a
data folder that user owns."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from devstack.procs import StackError, wait_port, wait_port_free

BIN_DIRS = [Path("/usr/lib/postgresql/15/bin"), Path("/usr/lib/postgresql/16/bin")]
SUPERUSER = "billport"
DATABASE = "billport"
ROLE_SCHEMAS = ("usage", "invoicing", "payments", "notifier", "gateway")
"""Each has a login role `billport_<schema>` owning the schema of that name."""
ROLES_SQL = Path(__file__).resolve().parent.parent / "deploy" / "postgres" / "roles.sql"
HBA = """\
# Written by devstack on every start: every connection proves its password.
local   all   all                  scram-sha-256
host    all   all   127.0.0.1/32   scram-sha-256
host    all   all   ::1/128        scram-sha-256
"""


def bin_dir() -> Path:
    for d in BIN_DIRS:
        if (d / "initdb").exists():
            return d
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise StackError("PostgreSQL server binaries not found: apt-get install postgresql-15")


def _as_owner(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        for p in [path, *path.rglob("*")]:
            os.chown(p, pw.pw_uid, pw.pw_gid)


def _run(cmd: list[str], what: str) -> None:
    result = subprocess.run(
        _as_owner(cmd), capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        raise StackError(f"{what} failed:\n{result.stdout}\n{result.stderr}")


def role_of(schema: str) -> str:
    """The login role of the service owning `schema`."""
    return f"billport_{schema}"


def dsn(port: int, password: str, role: str = SUPERUSER) -> str:
    return f"postgresql://{quote(role)}:{quote(password, safe='')}@127.0.0.1:{port}/{DATABASE}"


def start(data_dir: Path, port: int, passwords: Mapping[str, str], timeout: float = 60) -> None:
    """Init (once) and start the cluster, then make sure it asks every client for a password
    and every service role exists with the password given. `passwords` maps each role (the
    superuser and every `role_of(schema)`) to its password."""
    superuser_password = passwords[SUPERUSER]
    bins = bin_dir()
    pgdata = data_dir / "pgdata"
    sockets = data_dir / "sock"
    data_dir.mkdir(parents=True, exist_ok=True)
    sockets.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        os.chmod(data_dir, 0o755)
        _chown(sockets)
    if not (pgdata / "PG_VERSION").exists():
        _init(bins, data_dir, superuser_password)
    log = data_dir / "postgres.log"
    if not log.exists():
        log.touch()
    _chown(log)
    if not status(data_dir):
        # A cluster stopped a moment ago (the previous test run) may still hold the port.
        wait_port_free(port, timeout=30, what="PostgreSQL")
        options = (
            f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=on "
            "-c max_connections=300 -c shared_buffers=256MB -c synchronous_commit=on"
            # bulk usage writes much WAL: fewer forced checkpoints (and full-page writes)
            " -c max_wal_size=4GB -c checkpoint_timeout=15min"
        )
        _run(
            [
                str(bins / "pg_ctl"),
                "-D",
                str(pgdata),
                "-o",
                options,
                "-l",
                str(log),
                "-w",
                "-t",
                str(int(timeout)),
                "start",
            ],
            "starting PostgreSQL",
        )
    wait_port(port, timeout, None, "PostgreSQL", log)
    _require_passwords(bins, pgdata, port, superuser_password)
    _ensure_database(bins, port, superuser_password)
    _provision_roles(bins, port, passwords)


def _init(bins: Path, data_dir: Path, superuser_password: str) -> None:
    pgdata = data_dir / "pgdata"
    pgdata.mkdir(exist_ok=True)
    _chown(pgdata)
    # initdb reads the superuser's password from a file (never the command line); the file
    # lives only as long as initdb runs.
    pwfile = data_dir / "initdb-password"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(superuser_password + "\n")
    _chown(pwfile)
    try:
        _run(
            [
                str(bins / "initdb"),
                "-D",
                str(pgdata),
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            "initdb",
        )
    finally:
        pwfile.unlink(missing_ok=True)


def _require_passwords(bins: Path, pgdata: Path, port: int, superuser_password: str) -> None:
    """Our own pg_hba.conf: scram-sha-256 for every connection. A cluster made before
    passwords (`initdb -A trust`, a developer's `.local` from an older checkout) still lets the
    superuser in without one, so it gets its password first, then the rules are tightened and
    reloaded: upgraded in place, data kept."""
    hba = pgdata / "pg_hba.conf"
    if hba.read_text() == HBA:
        return
    _psql(
        bins,
        port,
        superuser_password,
        "postgres",
        f"ALTER ROLE {SUPERUSER} PASSWORD {_literal(superuser_password)};",
        "setting the superuser's password",
    )
    hba.write_text(HBA)
    hba.chmod(0o600)
    _chown(hba)
    _psql(
        bins,
        port,
        superuser_password,
        "postgres",
        "SELECT pg_reload_conf();",
        "reloading pg_hba.conf",
    )


def _ensure_database(bins: Path, port: int, superuser_password: str) -> None:
    exists = _psql(
        bins,
        port,
        superuser_password,
        "postgres",
        f"SELECT 1 FROM pg_database WHERE datname = {_literal(DATABASE)};",
        "looking for the database",
    )
    if exists.strip() != "1":
        _psql(
            bins,
            port,
            superuser_password,
            "postgres",
            f"CREATE DATABASE {DATABASE};",
            "creating the database",
        )


def _provision_roles(bins: Path, port: int, passwords: Mapping[str, str]) -> None:
    """The roles script of a real deployment, with the passwords in its environment."""
    env = {
        f"BILLPORT_{schema.upper()}_DB_PASSWORD": passwords[role_of(schema)]
        for schema in ROLE_SCHEMAS
    }
    _psql(
        bins,
        port,
        passwords[SUPERUSER],
        DATABASE,
        ROLES_SQL.read_text(),
        "creating the service roles",
        env,
    )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _psql(
    bins: Path,
    port: int,
    superuser_password: str,
    database: str,
    sql: str,
    what: str,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run `sql` as the superuser; SQL and passwords go through stdin and the environment,
    never the command line (which `ps` shows to every user)."""
    result = subprocess.run(
        [
            str(bins / "psql"),
            "-X",
            "-q",
            "-tA",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            SUPERUSER,
            "-d",
            database,
            "-f",
            "-",
        ],
        input=sql,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {}), "PGPASSWORD": superuser_password},
    )
    if result.returncode != 0:
        raise StackError(f"{what} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def status(data_dir: Path) -> bool:
    result = subprocess.run(
        _as_owner([str(bin_dir() / "pg_ctl"), "-D", str(data_dir / "pgdata"), "status"]),
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    return result.returncode == 0


def stop(data_dir: Path) -> None:
    if (data_dir / "pgdata" / "PG_VERSION").exists() and status(data_dir):
        _run(
            [str(bin_dir() / "pg_ctl"), "-D", str(data_dir / "pgdata"), "-m", "fast", "-w", "stop"],
            "stopping PostgreSQL",
        )
