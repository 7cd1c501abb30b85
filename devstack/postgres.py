"""A private PostgreSQL 15 cluster in a project folder, on its own port.

Every connection proves a password (scram-sha-256, TCP and socket alike), and each service
logs in as a role of its own that owns its schema and nothing else
(`deploy/postgres/roles.sql`, the same script a real deployment runs). The superuser
`billport` is for the stack itself and for tests' assertions.

initdb and postgres refuse to run as root: as root we run them as the `postgres` user on a
data folder that user owns."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from devstack.procs import StackError, alive, spawn, tail, wait_port, wait_port_free

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


def start(
    data_dir: Path,
    port: int,
    passwords: Mapping[str, str],
    timeout: float = 60,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes] | None:
    """Init (once) and start the cluster, then make sure it asks every client for a password
    and every service role exists with the password given. `passwords` maps each role (the
    superuser and every `role_of(schema)`) to its password. Returns the postmaster we started,
    or None when the cluster was running already (then only the roles are seen to)."""
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
    proc = None
    if not status(data_dir):
        # A cluster stopped a moment ago (the previous test run) may still hold the port.
        wait_port_free(port, timeout=30, what="PostgreSQL")
        proc = _spawn_postmaster(bins, pgdata, port, sockets, log, env)
    _wait_ready(bins, port, timeout, proc, log)
    _require_passwords(bins, pgdata, port, superuser_password)
    _ensure_database(bins, port, superuser_password)
    _provision_roles(bins, port, passwords)
    return proc


def _spawn_postmaster(
    bins: Path, pgdata: Path, port: int, sockets: Path, log: Path, env: Mapping[str, str] | None
) -> subprocess.Popen[bytes]:
    """`postgres` itself in the foreground, a child of ours like every other process of the
    stack (not `pg_ctl start`, which daemonizes it away from us): it dies with its parent, and
    its backends end when it does."""
    settings = {
        "port": str(port),
        "unix_socket_directories": str(sockets),
        "listen_addresses": "127.0.0.1",
        "fsync": "on",
        "max_connections": "300",
        "shared_buffers": "256MB",
        "synchronous_commit": "on",
        # bulk usage writes much WAL: fewer forced checkpoints (and full-page writes)
        "max_wal_size": "4GB",
        "checkpoint_timeout": "15min",
    }
    cmd = [str(bins / "postgres"), "-D", str(pgdata)]
    for name, value in settings.items():
        cmd += ["-c", f"{name}={value}"]
    user = "postgres" if os.geteuid() == 0 else None
    return spawn(cmd, log, env=dict(env or {}), cwd=pgdata, user=user)


def _wait_ready(
    bins: Path, port: int, timeout: float, proc: subprocess.Popen[bytes] | None, log: Path
) -> None:
    """The port opens before the cluster takes connections (recovery after a crash): wait for
    `pg_isready` to say it accepts them."""
    wait_port(port, timeout, proc, "PostgreSQL", log)
    deadline = time.monotonic() + timeout
    while True:
        ready = subprocess.run(
            [str(bins / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port), "-t", "2"],
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if ready.returncode == 0:
            return
        if proc is not None and proc.poll() is not None:
            raise StackError(
                f"PostgreSQL exited with code {proc.returncode}; see {log}:\n{tail(log)}"
            )
        if time.monotonic() > deadline:
            raise StackError(f"PostgreSQL did not accept connections within {timeout:.0f}s")
        time.sleep(0.1)


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
    """Whether the cluster's postmaster runs. Not `pg_ctl status`: that takes a killed
    postmaster nobody has reaped yet (a zombie) for a running one, and then waits for it."""
    try:
        pid = int((data_dir / "pgdata" / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return False
    if not alive(pid):
        return False
    try:  # the pid of a postmaster long gone may be another process's now
        return os.readlink(f"/proc/{pid}/cwd") == str(data_dir / "pgdata")
    except OSError:
        return True


def stop(data_dir: Path) -> None:
    if (data_dir / "pgdata" / "PG_VERSION").exists() and status(data_dir):
        _run(
            [str(bin_dir() / "pg_ctl"), "-D", str(data_dir / "pgdata"), "-m", "fast", "-w", "stop"],
            "stopping PostgreSQL",
        )


def stop_postmaster(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Fast shutdown of a postmaster we started (SIGINT: open transactions rolled back, a
    checkpoint written), SIGKILL of its group if it takes longer than `timeout`."""
    if proc.poll() is None:
        with _suppress_gone():
            os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with _suppress_gone():
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # its backends end with it; wait until none is left on the data folder
    deadline = time.monotonic() + 10
    while alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _suppress_gone() -> contextlib.AbstractContextManager[None]:
    return contextlib.suppress(ProcessLookupError)
