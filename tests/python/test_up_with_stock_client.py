"""`raccordo up` on the embedded default, driven by a stock gRPC client (Python grpcio).

The client knows nothing of raccordo's protos: it discovers them through gRPC reflection, builds
the request messages from the discovered descriptors and calls the API like any case software
would. It also checks that `raccordo up` stops its own nats-server when it is stopped.

Run by scripts/test.sh with RACCORDO_BIN pointing at the raccordo binary.
"""

import json
import sys
import time
import unittest

import grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

sys.dont_write_bytecode = True  # no __pycache__ beside the tests
from raccordo_up import RaccordoUp, process_gone  # noqa: E402


class StockClient(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = RaccordoUp()
        cls.channel = cls.up.channel

    @classmethod
    def tearDownClass(cls):
        cls.up.close()

    def call(self, method: str, request: dict, org: str):
        return self.up.call(method, request, org)

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
        # The Comune reads from its own projection: min_sequence waits until it holds the request.
        pathway = self.call(
            "raccordo.v1.Pathways/Get",
            {"pathway_id": reply["pathway_id"], "min_sequence": reply["sequence"]},
            org="comune:magenta",
        )
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
        nats_pid = self.up.nats_pid()
        self.assertFalse(process_gone(nats_pid, 0), "the embedded nats-server runs")
        self.assertEqual(self.up.stop(), 0)
        self.assertTrue(process_gone(nats_pid, 10), "the embedded nats-server is gone")


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print(f"stock-client: {result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
