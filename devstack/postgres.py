"""A private PostgreSQL 15 cluster in a project folder, on its own port.

initdb and postgres refuse to run as root: as root we run them as the `postgres` user on a
data folder that user owns."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

from devstack.procs import StackError, wait_port, wait_port_free

BIN_DIRS = [Path("/usr/lib/postgresql/15/bin"), Path("/usr/lib/postgresql/16/bin")]
SUPERUSER = "billport"
DATABASE = "billport"


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


def dsn(port: int) -> str:
    return f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{DATABASE}"


def start(data_dir: Path, port: int, timeout: float = 60) -> str:
    """Init (once) and start the cluster; returns the DSN of the `billport` database."""
    bins = bin_dir()
    pgdata = data_dir / "pgdata"
    sockets = data_dir / "sock"
    data_dir.mkdir(parents=True, exist_ok=True)
    sockets.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        os.chmod(data_dir, 0o755)
        _chown(sockets)
    if not (pgdata / "PG_VERSION").exists():
        pgdata.mkdir(exist_ok=True)
        _chown(pgdata)
        _run(
            [
                str(bins / "initdb"),
                "-D",
                str(pgdata),
                "-A",
                "trust",
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            "initdb",
        )
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
    _ensure_database(bins, port)
    return dsn(port)


def _ensure_database(bins: Path, port: int) -> None:
    psql = [
        str(bins / "psql"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-U",
        SUPERUSER,
        "-d",
        "postgres",
        "-tAc",
    ]
    exists = subprocess.run(
        [*psql, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"],
        capture_output=True,
        text=True,
    )
    if exists.stdout.strip() != "1":
        _run([*psql, f"CREATE DATABASE {DATABASE}"], "creating the database")


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
