"""The NATS-native inbox consumer example (contracts/consumers/python/inbox_consumer.py) against
`raccordo up`.

Events are created through gRPC as in test_up_with_stock_client.py; the example runs as a
subprocess, as case software would run it, and what it prints is compared with what the
RACCORDO_INBOX stream holds on the party's subjects, read here directly through nats-py.

Run by scripts/test.sh with RACCORDO_BIN pointing at the raccordo binary and PYTHONPATH at the
pinned clients (scripts/python-tools.sh).
"""

import asyncio
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import unittest

import nats

sys.dont_write_bytecode = True  # no __pycache__ beside the tests or the example
from raccordo_up import ROOT, NatsServer, RaccordoUp, free_port, process_gone  # noqa: E402

EXAMPLE = ROOT / "contracts" / "consumers" / "python" / "inbox_consumer.py"
sys.path.insert(0, str(EXAMPLE.parent))
import inbox_consumer  # noqa: E402  (the example, imported for the in-process failure test)

STREAM = "RACCORDO_INBOX"
MAGENTA = "comune:magenta"
CINISELLO = "comune:cinisello-balsamo"


def in_days(days: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() + days * 86400))


def run_example(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={k: v for k, v in os.environ.items() if k != "RACCORDO_NATS_URL"},
    )


def lines_of(result: subprocess.CompletedProcess) -> list:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


async def _read_inbox(url: str) -> list:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        state = (await js.stream_info(STREAM)).state
        messages = []
        for seq in range(state.first_seq or 1, state.last_seq + 1):
            raw = await js.get_msg(STREAM, seq)
            headers = {k.lower(): v for k, v in (raw.headers or {}).items()}
            messages.append({"seq": raw.seq, "subject": raw.subject, "headers": headers, "data": json.loads(raw.data)})
        return messages
    finally:
        await nc.close()


async def _consumer_state(url: str, durable: str) -> tuple:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().consumer_info(STREAM, durable)
        return info.num_pending, info.num_ack_pending
    finally:
        await nc.close()


def expected_line(message: dict) -> dict:
    """What the example prints for one stored inbox message."""
    h = message["headers"]
    return {
        "cursor": message["seq"],
        "id": h["ce-id"],
        "type": h["ce-type"],
        "pathway": h["ce-subject"],
        "status": h["raccordo-status"],
        "waiting_on": [p for p in h["raccordo-waiting-on"].split(",") if p],
        "source": h["ce-source"],
        "time": h["ce-time"],
    }


class InboxConsumer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = RaccordoUp(prefix="raccordo-inbox-")
        cls.nats = cls.up.nats_url()
        cls.pathway = None

    @classmethod
    def tearDownClass(cls):
        cls.up.close()

    # -- helpers ---------------------------------------------------------------------------------

    def inbox(self) -> list:
        return asyncio.run(_read_inbox(self.nats))

    def party_messages(self, party: str) -> list:
        prefix = f"raccordo.inbox.{party.replace(':', '_')}."
        return [m for m in self.inbox() if m["subject"].startswith(prefix)]

    def consumer_state(self, durable: str) -> tuple:
        """(messages not yet delivered, messages delivered and not acknowledged) of a durable."""
        return asyncio.run(_consumer_state(self.nats, durable))

    def wait_routed(self, party: str, event_ids: set) -> list:
        """The party's inbox messages once the router has written every one of `event_ids` there."""
        deadline = time.time() + 20
        while True:
            messages = self.party_messages(party)
            if event_ids <= {m["headers"]["ce-id"] for m in messages}:
                return messages
            if time.time() > deadline:
                self.fail(f"events {event_ids} not routed to {party} within 20 s:\n{self.up.log_text()}")
            time.sleep(0.1)

    def example(self, party: str, *args: str) -> subprocess.CompletedProcess:
        result = run_example("--nats", self.nats, "--party", party, "--once", *args)
        self.assertEqual(result.returncode, 0, f"the example failed:\n{result.stderr}")
        return result

    def change_expected_date(self, command_id: str, days: int) -> str:
        reply = self.up.call(
            "raccordo.v1.DimissioneProtetta/ChangeExpectedDate",
            {
                "command_id": command_id,
                "pathway_id": self.pathway,
                "expected_discharge": in_days(days),
                "reason": "DATE_CHANGE_REASON_CLINICAL_CONDITION",
            },
            org="asst:705",
        )
        return reply["event_id"]

    # -- errors ----------------------------------------------------------------------------------

    def test_1_a_malformed_party_is_refused(self):
        for party in ["magenta", "comune:Magenta", "comune_magenta", "asst:999", "comune:magenta.>"]:
            result = run_example("--nats", self.nats, "--party", party, "--once")
            self.assertEqual(result.returncode, 2, party)
            self.assertIn("expected kind:code", result.stderr, party)
            self.assertEqual(result.stdout, "", party)

    def test_1_no_server_is_a_clear_error(self):
        url = f"nats://127.0.0.1:{free_port()}"
        started = time.time()
        result = run_example("--nats", url, "--party", MAGENTA, "--once", "--connect-timeout", "2")
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn(f"cannot connect to NATS at {url} within 2 s", result.stderr)
        self.assertIn("raccordo up", result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        self.assertLess(time.time() - started, 15)

    def test_1_a_server_without_the_inbox_stream_is_a_clear_error(self):
        bare = NatsServer()
        try:
            result = run_example("--nats", bare.url, "--party", MAGENTA, "--once")
        finally:
            bare.close()
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn(f"there is no stream RACCORDO_INBOX on {bare.url}", result.stderr)
        self.assertNotIn("Traceback", result.stderr)

    def test_1_the_url_comes_from_the_environment(self):
        result = subprocess.run(
            [sys.executable, str(EXAMPLE), "--party", CINISELLO, "--once", "--durable", "from-env"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "RACCORDO_NATS_URL": self.nats},
        )
        self.assertEqual(result.returncode, 0, result.stderr)

    # -- what a party receives -------------------------------------------------------------------

    def test_2_a_party_gets_exactly_its_own_events(self):
        request = self.up.call(
            "raccordo.v1.DimissioneProtetta/Request",
            {
                "command_id": "inbox-consumer-1",
                "codice_fiscale": "RSSMRA85T10A562S",
                "ward": "Medicina generale - Ospedale di Magenta",
                "residence": "magenta",
                "expected_discharge": in_days(3),
                "needs": ["DISCHARGE_SERVICE_SAD"],
                "lives_alone": True,
            },
            org="asst:705",
        )
        type(self).pathway = request["pathway_id"]
        received = self.up.call(
            "raccordo.v1.DimissioneProtetta/Receive",
            {"command_id": "inbox-consumer-2", "pathway_id": self.pathway},
            org=MAGENTA,
        )
        ids = {request["event_id"], received["event_id"]}
        magenta = self.wait_routed(MAGENTA, ids)
        self.wait_routed("asst:705", ids)

        self.assertEqual(
            [m["headers"]["ce-type"] for m in magenta],
            ["raccordo.dimissione_protetta.requested.v1", "raccordo.dimissione_protetta.received.v1"],
        )
        others = [m for m in self.inbox() if m not in magenta]
        self.assertTrue(others, "other parties' inboxes hold the same events, so there is something to leave out")

        lines = lines_of(self.example(MAGENTA))
        self.assertEqual(lines, [expected_line(m) for m in magenta])
        self.assertEqual({line["id"] for line in lines}, ids)
        self.assertEqual({line["pathway"] for line in lines}, {self.pathway})
        self.assertEqual([line["source"] for line in lines], ["asst:705", MAGENTA])
        self.assertEqual(lines[0]["status"], "requested")
        self.assertEqual(lines[1]["status"], "received")

        cinisello = self.example(CINISELLO)
        self.assertEqual(lines_of(cinisello), [], "Cinisello Balsamo has no part in a Magenta pathway")

    def test_3_the_durable_resumes_where_it_stopped(self):
        self.assertIsNotNone(self.pathway, "test_2 opened a pathway")
        self.assertEqual(lines_of(self.example(MAGENTA)), [], "nothing is delivered twice")

        event_id = self.change_expected_date("inbox-consumer-3", 5)
        magenta = self.wait_routed(MAGENTA, {event_id})
        lines = lines_of(self.example(MAGENTA))
        self.assertEqual(lines, [expected_line(magenta[-1])])
        self.assertEqual(lines[0]["id"], event_id)
        self.assertEqual(lines[0]["type"], "raccordo.dimissione_protetta.expected_date_changed.v1")

        self.assertEqual(lines_of(self.example(MAGENTA)), [])
        self.assertEqual(lines_of(self.example(CINISELLO)), [])
        self.assertEqual(self.consumer_state("case-software-comune_magenta"), (0, 0), "everything acknowledged")

    def test_4_running_it_follows_new_events_until_signalled(self):
        self.assertIsNotNone(self.pathway, "test_2 opened a pathway")
        before = [expected_line(m) for m in self.party_messages(MAGENTA)]
        proc = subprocess.Popen(
            [sys.executable, str(EXAMPLE), "--nats", self.nats, "--party", MAGENTA, "--durable", "live"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: "queue.Queue[str]" = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()

        def next_lines(count: int) -> list:
            got = []
            try:
                while len(got) < count:
                    got.append(json.loads(lines.get(timeout=20)))
            except queue.Empty:
                pass
            return got

        try:
            self.assertEqual(next_lines(len(before)), before, "a new durable starts from the first event")
            event_id = self.change_expected_date("inbox-consumer-4", 6)
            [line] = next_lines(1)
            self.assertEqual(line["id"], event_id)
            self.assertEqual(line, expected_line(self.wait_routed(MAGENTA, {event_id})[-1]))
            stopped = time.time()
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=15), 0, proc.stderr.read())
            self.assertLess(time.time() - stopped, 10, "it stops without waiting out its 30 s fetch")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        self.assertEqual(lines.qsize(), 0, "nothing else was printed")
        self.assertEqual(self.consumer_state("live"), (0, 0), "what it printed was acknowledged")

    def test_5_an_event_whose_handling_fails_comes_again(self):
        magenta = [expected_line(m) for m in self.party_messages(MAGENTA)]
        self.assertGreaterEqual(len(magenta), 3)
        first = magenta[0]["cursor"]
        options = inbox_consumer.Options(
            party=MAGENTA, nats=self.nats, durable="flaky", once=True, batch=2, retry_delay=0.5
        )
        handled = []

        def flaky(event):
            if event.cursor == first:
                raise RuntimeError("the case database is down")
            handled.append(event)

        with self.assertLogs("inbox_consumer", level="ERROR") as logged:
            self.assertEqual(asyncio.run(inbox_consumer.consume(options, flaky)), 1, "one event not handled")
        self.assertIn(f"event at cursor {first}", logged.output[0])
        self.assertIn("the case database is down", logged.output[0])
        self.assertEqual([e.summary() for e in handled], magenta[1:])

        time.sleep(1)
        handled.clear()
        self.assertEqual(asyncio.run(inbox_consumer.consume(options, handled.append)), 0)
        self.assertEqual([e.summary() for e in handled], magenta[:1], "only the failed event, again")
        self.assertGreaterEqual(handled[0].delivered, 2)
        self.assertEqual(handled[0].party, MAGENTA)
        self.assertEqual(handled[0].view, "full")
        self.assertIn("subject_ref", handled[0].data)
        self.assertEqual(handled[0].ambito, "50032", "the Magentino")
        self.assertEqual(handled[0].routed_by, handled[0].source_sequence)

        handled.clear()
        self.assertEqual(asyncio.run(inbox_consumer.consume(options, handled.append)), 0)
        self.assertEqual(handled, [])

    def test_6_a_durable_of_another_party_is_refused(self):
        result = run_example("--nats", self.nats, "--party", CINISELLO, "--once", "--durable", "live")
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("durable consumer live on RACCORDO_INBOX reads raccordo.inbox.comune_magenta.>", result.stderr)
        self.assertEqual(result.stdout, "")

    def test_7_the_readme_shows_the_code_as_it_is(self):
        readme = (ROOT / "README.md").read_text()
        section = readme.split("### Subscribing with NATS", 1)
        self.assertEqual(len(section), 2, "README.md has a 'Subscribing with NATS' section")
        excerpts = re.findall(r"```python\n(.*?)```", section[1].split("\n## ", 1)[0], re.S)
        self.assertTrue(excerpts, "the section shows some of the code")
        code = [line.strip() for line in EXAMPLE.read_text().splitlines()]
        for excerpt in excerpts:
            position = 0
            for line in (line.strip() for line in excerpt.splitlines()):
                if not line or line == "...":
                    continue
                self.assertIn(line, code[position:], f"README line not in the example (in order): {line}")
                position = code.index(line, position) + 1

    # -- the end ---------------------------------------------------------------------------------

    def test_9_stopping_raccordo_stops_its_nats_server(self):
        nats_pid = self.up.nats_pid()
        self.assertFalse(process_gone(nats_pid, 0), "the embedded nats-server runs")
        self.assertEqual(self.up.stop(), 0)
        self.assertTrue(process_gone(nats_pid, 10), "the embedded nats-server is gone")


if __name__ == "__main__":
    started = time.time()
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print(f"inbox-consumer: ran in {time.time() - started:.1f} s")
    print(f"inbox-consumer: {result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
