"""The whole local stack: infrastructure, then every service, then the gateway.

Used by `make run` (the supervisor in `__main__`), by the test suite (its own ports and
folders) and by `make bench`."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devstack import guard, kafka, postgres
from devstack.kept import kept_secret, secret_path
from devstack.procs import (
    StackError,
    listener_of,
    port_open,
    spawn,
    stop_group,
    stop_groups,
    wait_port,
    wait_port_free,
)

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("usage", "invoicing", "payments", "notifier")


@dataclass
class StackConfig:
    home: Path = ROOT / ".local"
    kafka_port: int = 19092
    controller_port: int = 19093
    pg_port: int = 25432
    smtp_port: int = 2525
    gateway_port: int = 8000
    service_base_port: int = 8101
    admin_token: str = ""
    replicas: dict[str, int] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    """More settings for the processes (each takes the variables of its own prefix)."""

    @classmethod
    def isolated(
        cls, home: Path, slot: int, admin_token: str, replicas: dict[str, int] | None = None
    ) -> StackConfig:
        """A stack beside `make run` (slot 0 is `make run`'s ports): the tests use slot 1, the
        bench slot 2, each with its own folder and ports, so they never disturb each other."""
        return cls(
            home=home,
            # Every port below 32768, outside the range the kernel hands to outgoing
            # connections: a listener cannot collide with a client's ephemeral port.
            kafka_port=19092 + 1000 * slot,
            controller_port=19093 + 1000 * slot,
            pg_port=25432 + 10 * slot,
            smtp_port=2525 + slot,
            gateway_port=8000 + 450 * slot,
            service_base_port=8001 + 450 * slot,
            admin_token=admin_token,
            replicas=replicas or {},
        )

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def db_password(self, role: str) -> str:
        """The password of a PostgreSQL role (`postgres.SUPERUSER` or a service's), made once
        per stack home and kept in `<home>/secrets/` (0600)."""
        return kept_secret(self.home, f"postgres-{role}")

    def db_passwords(self) -> dict[str, str]:
        roles = [postgres.SUPERUSER, *map(postgres.role_of, postgres.ROLE_SCHEMAS)]
        return {role: self.db_password(role) for role in roles}

    @property
    def dsn(self) -> str:
        """The superuser's DSN: for the stack itself and for tests' and benchmarks' checks;
        the services never get it."""
        return postgres.dsn(self.pg_port, self.db_password(postgres.SUPERUSER))

    def service_dsn(self, service: str) -> str:
        """The DSN of a service's own role (`gateway` included), which owns its schema only."""
        role = postgres.role_of(service)
        return postgres.dsn(self.pg_port, self.db_password(role), role)

    @property
    def internal_secret(self) -> str:
        """`BILLPORT_INTERNAL_SECRET`, shared by every process of this stack to sign and verify
        internal calls; made once per stack home, like the passwords."""
        return kept_secret(self.home, "internal-secret", length_bytes=48)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def service_port(self, service: str, instance: int) -> int:
        return self.service_base_port + SERVICES.index(service) + 10 * instance

    def service_urls(self, service: str) -> list[str]:
        n = self.replicas.get(service, 1)
        return [f"http://127.0.0.1:{self.service_port(service, i)}" for i in range(n)]

    def service_env(self, service: str, instance: int) -> dict[str, str]:
        prefix = f"BILLPORT_{service.upper()}_"
        return {
            prefix + "KAFKA_BOOTSTRAP": self.bootstrap,
            prefix + "DATABASE_URL": self.service_dsn(service),
            # Loopback only (the settings' default, pinned so that a variable left in the
            # developer's shell cannot open a service to the network): only the gateway is
            # for clients, and it too listens on loopback here.
            prefix + "HTTP_HOST": "127.0.0.1",
            prefix + "HTTP_PORT": str(self.service_port(service, instance)),
            prefix + "INSTANCE": str(instance),
            prefix + "SMTP_PORT": str(self.smtp_port),
            # invoicing asks the usage service whether accepted usage is all stored
            prefix + "USAGE_URLS": ",".join(self.service_urls("usage")),
            "BILLPORT_INTERNAL_SECRET": self.internal_secret,
            # invoicing has the notifier render the invoice documents
            prefix + "NOTIFIER_URLS": ",".join(self.service_urls("notifier")),
            # invoicing checks the payments service's copy of its invoices
            prefix + "PAYMENTS_URLS": ",".join(self.service_urls("payments")),
            # a local stack's webhook receivers run on this machine, over plain HTTP
            **(
                {
                    prefix + "WEBHOOK_ALLOW_HTTP": "true",
                    prefix + "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
                }
                if service == "notifier"
                else {}
            ),
            **{k: v for k, v in self.extra_env.items() if k.startswith(prefix)},
        }

    def gateway_env(self) -> dict[str, str]:
        env = {
            "BILLPORT_GATEWAY_KAFKA_BOOTSTRAP": self.bootstrap,
            "BILLPORT_GATEWAY_DATABASE_URL": self.service_dsn("gateway"),
            "BILLPORT_GATEWAY_HTTP_HOST": "127.0.0.1",
            "BILLPORT_GATEWAY_PORT": str(self.gateway_port),
            "BILLPORT_ADMIN_TOKEN": self.admin_token,
            "BILLPORT_INTERNAL_SECRET": self.internal_secret,
        }
        for s in SERVICES:
            env[f"BILLPORT_GATEWAY_{s.upper()}_URLS"] = ",".join(self.service_urls(s))
        env.update({k: v for k, v in self.extra_env.items() if k.startswith("BILLPORT_GATEWAY_")})
        return env


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    cmd: list[str]
    env: dict[str, str]
    port: int | None = None


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.procs: dict[str, Proc] = {}
        """Kafka, the SMTP inbox, every service and the gateway (PostgreSQL is `postmaster`)."""
        self.postmaster: subprocess.Popen[bytes] | None = None
        self.guard: subprocess.Popen[bytes] | None = None
        self.run_dir = config.home / "run"
        self.log_dir = config.home / "logs"
        self.run_id = secrets.token_hex(8)
        # In the environment of every process of ours (and so of their children): a later
        # run on this folder knows them by the first, the guard of this run by the second.
        self.markers = {guard.STACK_HOME: str(config.home), guard.STACK_RUN: self.run_id}

    # -- infrastructure --------------------------------------------------------------------
    def start_infra(self) -> None:
        c = self.config
        stopped = stop_stale(c.home)
        if stopped:
            self._say("stopped what a previous run left in", str(c.home) + ":", ", ".join(stopped))
        check_ports_free(c)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.guard = guard.start(
            os.getpid(), guard.STACK_RUN, self.run_id, self.log_dir / "guard.log"
        )
        (self.run_dir / "guard.pid").write_text(str(self.guard.pid))
        self._say("Kafka broker (KRaft) on", c.bootstrap)
        self._start_kafka()
        self._say("PostgreSQL on port", str(c.pg_port))
        self._start_postgres()
        created = asyncio.run(_ensure_topics(c.bootstrap))
        if created:
            self._say("topics created:", ", ".join(created))
        mail = self._spawn_python(
            "smtp-inbox",
            [
                "-m",
                "devstack.smtp_inbox",
                "--port",
                str(c.smtp_port),
                "--dir",
                str(c.home / "mail"),
            ],
            {},
        )
        wait_port(c.smtp_port, 20, mail.popen, "the SMTP inbox", mail.log)

    # -- services --------------------------------------------------------------------------
    def start_service(self, service: str, instance: int = 0) -> Proc:
        env = self.config.service_env(service, instance)
        proc = self._spawn_python(f"{service}-{instance}", ["-m", f"services.{service}"], env)
        proc.port = self.config.service_port(service, instance)
        return proc

    def start_gateway(self) -> Proc:
        proc = self._spawn_python("gateway", ["-m", "services.gateway"], self.config.gateway_env())
        proc.port = self.config.gateway_port
        return proc

    def start_services(self, timeout: float = 120) -> None:
        started = [
            self.start_service(s, i)
            for s in SERVICES
            for i in range(self.config.replicas.get(s, 1))
        ]
        started.append(self.start_gateway())
        for proc in started:
            assert proc.port is not None
            wait_port(proc.port, timeout, proc.popen, proc.name, proc.log)
        self.wait_healthy(timeout)

    def restart(self, name: str) -> Proc:
        old = self.procs[name]
        stop_group(old.popen.pid, timeout=5)
        old.popen.wait()
        fresh = self._spawn_python(name, old.cmd, old.env)
        fresh.port = old.port
        if fresh.port:
            wait_port(fresh.port, 60, fresh.popen, name, fresh.log)
        return fresh

    def restart_kafka(self, down_seconds: float = 2.0) -> None:
        """Kill the broker (SIGKILL, as a crash), wait, start it again on the same data."""
        self.kill("kafka")
        time.sleep(down_seconds)
        self._start_kafka()

    def restart_postgres(self, down_seconds: float = 2.0) -> None:
        """Stop PostgreSQL (fast: open transactions are rolled back), wait, start it again."""
        self._stop_postgres()
        time.sleep(down_seconds)
        self._start_postgres()

    def _start_kafka(self) -> None:
        c = self.config
        broker = kafka.start(c.home / "kafka", c.kafka_port, c.controller_port, env=self.markers)
        self._track(Proc("kafka", broker, c.home / "kafka" / "kafka.log", [], {}, c.kafka_port))

    def _start_postgres(self) -> None:
        c = self.config
        self.postmaster = postgres.start(
            c.home / "postgres", c.pg_port, c.db_passwords(), env=self.markers
        )
        if self.postmaster is not None:
            (self.run_dir / "postgres.pid").write_text(str(self.postmaster.pid))

    def _stop_postgres(self) -> None:
        if self.postmaster is not None:
            postgres.stop_postmaster(self.postmaster)
            self.postmaster = None
            (self.run_dir / "postgres.pid").unlink(missing_ok=True)
        else:  # a cluster this stack found running
            postgres.stop(self.config.home / "postgres")

    def kill(self, name: str) -> None:
        """SIGKILL, as a crash would: no shutdown hooks run."""
        proc = self.procs[name]
        os.killpg(proc.popen.pid, 9)
        proc.popen.wait()

    def wait_healthy(self, timeout: float = 120) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.config.gateway_url + "/healthz", timeout=5) as r:
                    return dict(json.loads(r.read()))
            except urllib.error.HTTPError as exc:
                last = json.loads(exc.read() or b"{}")
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            time.sleep(0.3)
        raise StackError(f"the stack did not become healthy within {timeout:.0f}s: {last}")

    # -- shutdown --------------------------------------------------------------------------
    def stop(self) -> None:
        """The services and the gateway together (they depend on nothing but the
        infrastructure), then Kafka, the SMTP inbox and PostgreSQL together, then the guard."""
        infra = ("kafka", "smtp-inbox")
        self._stop_procs([n for n in self.procs if n not in infra], timeout=15)
        stopping_pg = threading.Thread(target=self._stop_postgres)
        stopping_pg.start()
        self._stop_procs([n for n in infra if n in self.procs], timeout=30)
        stopping_pg.join()
        if self.guard is not None:
            stop_group(self.guard.pid, timeout=5)
            self.guard.wait()
            self.guard = None
            (self.run_dir / "guard.pid").unlink(missing_ok=True)

    def _stop_procs(self, names: list[str], timeout: float) -> None:
        procs = [self.procs.pop(name) for name in names]
        stop_groups([p.popen.pid for p in procs], timeout=timeout)
        for proc in procs:
            proc.popen.wait()
            (self.run_dir / f"{proc.name}.pid").unlink(missing_ok=True)

    # -- helpers ---------------------------------------------------------------------------
    def _spawn_python(self, name: str, args: list[str], env: dict[str, str]) -> Proc:
        log = self.log_dir / f"{name}.log"
        popen = spawn([sys.executable, *args], log, env={**env, **self.markers}, cwd=ROOT)
        return self._track(Proc(name, popen, log, args, env))

    def _track(self, proc: Proc) -> Proc:
        self.procs[proc.name] = proc
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / f"{proc.name}.pid").write_text(str(proc.popen.pid))
        return proc

    def _say(self, *words: str) -> None:
        print("  ·", *words, flush=True)


async def _ensure_topics(bootstrap: str) -> list[str]:
    from shared.kafka import ensure_topics

    for attempt in range(30):
        try:
            return await ensure_topics(bootstrap)
        except Exception:
            if attempt == 29:
                raise
            await asyncio.sleep(1)
    return []


def wipe(home: Path) -> None:
    """Remove a stack's folder, first stopping whatever a previous run there left running."""
    stop_stale(home)
    shutil.rmtree(home, ignore_errors=True)


def kill_leftovers(run_dir: Path) -> list[str]:
    """Stop processes a crashed supervisor left behind in its home."""
    return stop_stale(run_dir.parent)


def stop_stale(home: Path) -> list[str]:
    """Stop every process a previous run on `home` left running (a test run killed midway, a
    supervisor that crashed), and only those: each is checked to be of this folder (see
    `belongs_to`) before it is stopped. PostgreSQL first, by a fast shutdown (a developer's
    data in `.local` stays consistent); then the groups in the pid files get SIGTERM; then
    whatever of the folder is left gets SIGKILL. Returns what was stopped."""
    if not home.exists():
        return []
    stopped: list[str] = []
    if postgres.status(home / "postgres"):
        postgres.stop(home / "postgres")
        stopped.append("postgres")
    owned = belongs_to(home)
    run_dir = home / "run"
    groups = {}
    for pidfile in sorted(run_dir.glob("*.pid")):
        text = pidfile.read_text().strip()
        if pidfile.stem != "supervisor" and text.isdigit() and owned(int(text)):
            groups[pidfile.stem] = int(text)
        if pidfile.stem != "supervisor":
            pidfile.unlink(missing_ok=True)
    stop_groups(list(groups.values()), timeout=15)
    stopped += groups
    left = guard.sweep(owned)
    if left:
        stopped.append(f"{len(left)} more processes")
    return stopped


def belongs_to(home: Path) -> Callable[[int], bool]:
    """Whether a process is part of a stack on `home`: it carries the folder's marker (every
    process of ours, and its children), or, for stacks started before the markers, it works
    in the folder's PostgreSQL data, reads its Kafka settings, or holds its internal secret.
    A folder's path alone would not do: `.local/test` lies inside `make run`'s `.local`."""
    marker = f"{guard.STACK_HOME}={home}".encode()
    pgdata = str(home / "postgres" / "pgdata")
    kafka_props = str(home / "kafka" / "server.properties")
    mail = str(home / "mail")
    secret_file = secret_path(home, "internal-secret")
    secret = secret_file.read_text().strip() if secret_file.exists() else None
    secret_entry = f"BILLPORT_INTERNAL_SECRET={secret}".encode() if secret else None

    def owned(pid: int) -> bool:
        env = guard.environ(pid)
        if marker in env or (secret_entry is not None and secret_entry in env):
            return True
        args = guard.cmdline(pid)
        return kafka_props in args or mail in args or guard.cwd(pid) == pgdata

    return owned


def check_ports_free(config: StackConfig) -> None:
    """Before starting: every port of the stack free, or a clear error naming what holds it
    (ours from a run before are stopped by then; a process that just died may hold one a
    moment longer)."""
    ports = {
        "Kafka": config.kafka_port,
        "the Kafka controller": config.controller_port,
        "PostgreSQL": config.pg_port,
        "the SMTP inbox": config.smtp_port,
        "the gateway": config.gateway_port,
    }
    for service in SERVICES:
        for i in range(config.replicas.get(service, 1)):
            ports[f"{service}-{i}"] = config.service_port(service, i)
    for what, port in ports.items():
        if not port_open(port):
            continue
        try:
            wait_port_free(port, timeout=5, what=what)
        except StackError:
            raise StackError(
                f"port {port} for {what} of the stack in {config.home} is held by "
                f"{listener_of(port)}, which is not part of this stack; stop it, or run on "
                "other ports (another BILLPORT_TEST_SLOT for the tests)"
            ) from None


def admin_token(home: Path) -> str:
    """`BILLPORT_ADMIN_TOKEN` when set; otherwise one made once and kept in `.local`."""
    env = os.environ.get("BILLPORT_ADMIN_TOKEN")
    if env:
        return env
    path = home / "admin-token"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        path.write_text("bp_admin_" + secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()
