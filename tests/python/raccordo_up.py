"""`raccordo up` on the embedded default, for the Python tests: start, call, find NATS, stop.

A test starts `raccordo up` (the binary `$RACCORDO_BIN`) on a temporary state folder and free
gRPC and console ports, calls the API through gRPC reflection like a stock client (no generated
code), finds the embedded nats-server through its ports file and stops everything with SIGINT.
"""

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

import grpc
from google.protobuf import descriptor_pool, json_format
from google.protobuf.message_factory import GetMessageClass
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

ROOT = Path(__file__).resolve().parents[2]


def remove_state(folder: Path) -> None:
    """Removes a test's temporary folder, unless `RACCORDO_KEEP_TEST_STATE` asks to keep it for a look."""
    if os.environ.get("RACCORDO_KEEP_TEST_STATE"):
        print(f"kept {folder}")
        return
    shutil.rmtree(folder, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_gone(pid: int, within: float) -> bool:
    deadline = time.time() + within
    while Path(f"/proc/{pid}").exists() and time.time() < deadline:
        time.sleep(0.1)
    return not Path(f"/proc/{pid}").exists()


def nats_server_binary() -> Path:
    """The nats-server raccordo would start: `$RACCORDO_NATS_SERVER`, else the pinned copy in .tools/."""
    if os.environ.get("RACCORDO_NATS_SERVER"):
        return Path(os.environ["RACCORDO_NATS_SERVER"])
    found = sorted(ROOT.glob(".tools/nats-server-*/bin/nats-server"))
    if not found:
        raise AssertionError("no nats-server: run scripts/nats-server.sh or set RACCORDO_NATS_SERVER")
    return found[-1]


class RaccordoUp:
    """One `raccordo up` process with its own state folder and gRPC port."""

    def __init__(self, prefix: str = "raccordo-up-"):
        self.state = Path(tempfile.mkdtemp(prefix=prefix))
        self.port = free_port()
        self.console_port = free_port()
        self.log = open(self.state / "raccordo.log", "w")
        self.proc = subprocess.Popen(
            [
                os.environ["RACCORDO_BIN"], "up", "--state-dir", str(self.state),
                "--listen", f"127.0.0.1:{self.port}", "--console", f"127.0.0.1:{self.console_port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        try:
            grpc.channel_ready_future(self.channel).result(timeout=30)
        except grpc.FutureTimeoutError:
            self.close()
            raise AssertionError("raccordo up did not listen within 30 s:\n" + self.log_text())
        self.pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(self.channel))
        with open(self.state / "tokens.csv") as f:
            rows = [r for r in csv.reader(line for line in f if not line.startswith("#")) if r]
        self.tokens = {org: token for token, org, _ in rows}

    def log_text(self) -> str:
        self.log.flush()
        return (self.state / "raccordo.log").read_text()

    def call(self, method: str, request: dict, org: str) -> dict:
        """Calls `service/rpc` as `org`, building the messages from the reflected descriptors."""
        service, rpc = method.rsplit("/", 1)
        descriptor = self.pool.FindServiceByName(service).FindMethodByName(rpc)
        request_class = GetMessageClass(descriptor.input_type)
        response_class = GetMessageClass(descriptor.output_type)
        stub = self.channel.unary_unary(
            f"/{service}/{rpc}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_class.FromString,
        )
        message = json_format.ParseDict(request, request_class())
        response = stub(message, metadata=[("authorization", f"Bearer {self.tokens[org]}")], timeout=10)
        return json_format.MessageToDict(response, preserving_proto_field_name=True)

    def ports_file(self) -> Path:
        ports = list((self.state / "nats" / "run").glob("*.ports"))
        if len(ports) != 1:
            raise AssertionError(f"expected one ports file of the embedded nats-server, found {ports}")
        return ports[0]

    def nats_url(self) -> str:
        """The client URL of the embedded nats-server."""
        return json.loads(self.ports_file().read_text())["nats"][0]

    def nats_pid(self) -> int:
        """The embedded nats-server's process id (its ports file is named `<binary>_<pid>.ports`)."""
        return int(self.ports_file().stem.rsplit("_", 1)[1])

    def stop(self) -> int:
        """Stops raccordo as Ctrl-C would; returns its exit status."""
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=20)

    def close(self) -> None:
        """Stops raccordo if a test has not (cleanly first, so that it stops its nats-server too) and
        removes its state folder."""
        self.channel.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        remove_state(self.state)


class NatsServer:
    """A bare nats-server with JetStream on a free port and a temporary store: raccordo never ran there."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="raccordo-bare-nats-"))
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.log = open(self.dir / "nats-server.log", "w")
        self.proc = subprocess.Popen(
            [str(nats_server_binary()), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.dir / "js")],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.close()
        raise AssertionError("the bare nats-server did not listen within 10 s")

    def close(self, timeout: Optional[float] = 10) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        remove_state(self.dir)
