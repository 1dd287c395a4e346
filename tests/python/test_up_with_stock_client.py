"""`raccordo up` on the embedded default, driven by a stock gRPC client (Python grpcio).

The client knows nothing of raccordo's protos: it discovers them through gRPC reflection, builds
the request messages from the discovered descriptors and calls the API like any case software
would. It also checks that `raccordo up` stops its own nats-server when it is stopped.

Run by scripts/test.sh with RACCORDO_BIN pointing at the raccordo binary.
"""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

import grpc
from google.protobuf import descriptor_pool, json_format
from google.protobuf.message_factory import GetMessageClass
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RaccordoUp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.state = Path(tempfile.mkdtemp(prefix="raccordo-up-"))
        cls.port = free_port()
        cls.log = open(cls.state / "raccordo.log", "w")
        cls.proc = subprocess.Popen(
            [os.environ["RACCORDO_BIN"], "up", "--state-dir", str(cls.state), "--listen", f"127.0.0.1:{cls.port}"],
            stdout=cls.log,
            stderr=subprocess.STDOUT,
        )
        cls.channel = grpc.insecure_channel(f"127.0.0.1:{cls.port}")
        try:
            grpc.channel_ready_future(cls.channel).result(timeout=30)
        except grpc.FutureTimeoutError:
            cls.proc.kill()
            raise AssertionError("raccordo up did not listen within 30 s:\n" + (cls.state / "raccordo.log").read_text())
        cls.pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(cls.channel))
        with open(cls.state / "tokens.csv") as f:
            rows = [r for r in csv.reader(line for line in f if not line.startswith("#")) if r]
        cls.tokens = {org: token for token, org, _ in rows}

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        if cls.proc.poll() is None:
            cls.proc.kill()
        cls.log.close()

    def call(self, method: str, request: dict, org: str):
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

    def test_1_reflection_lists_the_services(self):
        stub = reflection_pb2_grpc.ServerReflectionStub(self.channel)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = {s.name for r in responses for s in r.list_services_response.service}
        for expected in [
            "raccordo.v1.DimissioneProtetta",
            "raccordo.v1.Pua",
            "raccordo.v1.CentroFamiglia",
            "raccordo.v1.Pathways",
            "grpc.health.v1.Health",
        ]:
            self.assertIn(expected, names)

    def test_2_a_command_and_a_read_through_discovered_descriptors(self):
        reply = self.call(
            "raccordo.v1.DimissioneProtetta/Request",
            {
                "command_id": "stock-client-1",
                "codice_fiscale": "RSSMRA85T10A562S",
                "ward": "Medicina generale - Ospedale di Magenta",
                "residence": "magenta",
                "expected_discharge": time.strftime("%Y-%m-%d", time.gmtime(time.time() + 3 * 86400)),
                "needs": ["DISCHARGE_SERVICE_SAD"],
                "lives_alone": True,
            },
            org="asst:705",
        )
        self.assertEqual(reply["status"], "requested")
        self.assertTrue(reply["pathway_id"].startswith("dp-"))
        pathway = self.call("raccordo.v1.Pathways/Get", {"pathway_id": reply["pathway_id"]}, org="comune:magenta")
        self.assertEqual(pathway["status"], "requested")
        self.assertEqual(pathway["history"][0]["source"], "asst:705")
        self.assertNotIn("RSSMRA85T10A562S", json.dumps(pathway).upper())

    def test_3_bad_input_gets_invalid_argument(self):
        with self.assertRaises(grpc.RpcError) as caught:
            self.call(
                "raccordo.v1.DimissioneProtetta/Request",
                {"command_id": "stock-client-2", "codice_fiscale": "RSSMRA85T10A562X", "residence": "magenta"},
                org="asst:705",
            )
        self.assertEqual(caught.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("codice_fiscale", caught.exception.details())

    def test_4_stopping_raccordo_stops_its_nats_server(self):
        ports = list((self.state / "nats" / "run").glob("*.ports"))
        self.assertEqual(len(ports), 1, "the embedded server wrote its ports file")
        nats_pid = int(ports[0].stem.rsplit("_", 1)[1])
        self.assertTrue(Path(f"/proc/{nats_pid}").exists())
        self.proc.send_signal(signal.SIGINT)
        self.assertEqual(self.proc.wait(timeout=20), 0)
        deadline = time.time() + 10
        while Path(f"/proc/{nats_pid}").exists() and time.time() < deadline:
            time.sleep(0.1)
        self.assertFalse(Path(f"/proc/{nats_pid}").exists(), "the embedded nats-server is gone")


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print(f"stock-client: {result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
