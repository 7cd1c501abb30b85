"""One Apache Kafka 4.x broker+controller (KRaft) on loopback, from Maven Central jars."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from devstack.procs import StackError, spawn, wait_port

ROOT = Path(__file__).resolve().parent.parent
POM = ROOT / "deploy" / "kafka" / "pom.xml"
LIBS = ROOT / ".local" / "kafka" / "libs"
HEAP = "-Xmx512m -Xms256m"


def ensure_jars(libs: Path = LIBS) -> Path:
    """Fetch the broker jars once (Maven caches them under ~/.m2 too)."""
    stamp = libs / ".complete"
    if stamp.exists() and stamp.read_text() == POM.read_text():
        return libs
    if shutil.which("mvn") is None:
        raise StackError("Maven (mvn) is needed to fetch the Kafka jars: apt-get install maven")
    if libs.exists():
        shutil.rmtree(libs)
    result = subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={libs}",
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise StackError(f"fetching the Kafka jars failed:\n{result.stdout}\n{result.stderr}")
    stamp.write_text(POM.read_text())
    return libs


def server_properties(data_dir: Path, port: int, controller_port: int) -> str:
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={data_dir / 'logs'}",
            "num.partitions=6",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=6",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "log.retention.hours=-1",
            "message.max.bytes=8388608",
            # Sized for the local stack's small machine (2 cores here): Kafka's defaults (3
            # network, 8 I/O, 10 background threads, G1's concurrent collector) cost ~20 % more
            # of its CPU per posting in the payments pipeline, measured side by side.
            "num.network.threads=2",
            "num.io.threads=2",
            "background.threads=2",
            "",
        ]
    )


def java_cmd(libs: Path, *args: str) -> list[str]:
    return [
        "java",
        *HEAP.split(),
        "-XX:+UseSerialGC",
        # C1 only: on a fresh broker, C2's compiler threads took 40 % of Kafka's CPU during the
        # bench's usage ingest; without them its CPU per record fell from 7.4 to 4.7 us (its
        # request handlers' own time did not grow).
        "-XX:TieredStopAtLevel=1",
        "-Djava.awt.headless=true",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
        "-Dorg.slf4j.simpleLogger.log.kafka.server.KafkaRaftServer=info",
        "-cp",
        f"{libs}/*",
        *args,
    ]


def format_storage(libs: Path, data_dir: Path, props: Path) -> None:
    if (data_dir / "logs" / "meta.properties").exists():
        return
    cluster_id = (
        subprocess.run(
            java_cmd(libs, "kafka.tools.StorageTool", "random-uuid"),
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    result = subprocess.run(
        java_cmd(
            libs, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props), "-g"
        ),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise StackError(f"formatting Kafka storage failed:\n{result.stdout}\n{result.stderr}")


def start(
    data_dir: Path,
    port: int,
    controller_port: int,
    timeout: float = 90,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    libs = ensure_jars()
    data_dir.mkdir(parents=True, exist_ok=True)
    props = data_dir / "server.properties"
    props.write_text(server_properties(data_dir, port, controller_port))
    format_storage(libs, data_dir, props)
    log = data_dir / "kafka.log"
    proc = spawn(java_cmd(libs, "kafka.Kafka", str(props)), log, env=env, cwd=data_dir)
    wait_port(port, timeout, proc, "the Kafka broker", log)
    return proc
