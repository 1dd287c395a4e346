#!/usr/bin/env python3
"""Read one organisation's raccordo inbox from NATS JetStream: a starting point for case software.

raccordo's router writes every event a party is entitled to into stream ``RACCORDO_INBOX``, on
subject ``raccordo.inbox.<party>.<kind>`` (``comune:magenta`` becomes the token ``comune_magenta``;
kinds ``dimissione_protetta``, ``pua``, ``centro_famiglia``), one message per event and party,
CloudEvents 1.0 in binary mode: ``ce-*`` headers, raccordo's ``raccordo-*`` headers and the event's
data as a JSON body. This program reads that inbox with a **durable pull consumer** and hands each
event to :func:`handle`, which here prints one JSON line per event on standard output; replace its
body with what your case software does (open a case, update a worklist, ...).

Run it against ``raccordo up`` (which starts its own nats-server on a free loopback port and writes
the port in ``<state-dir>/nats/run/*.ports``)::

    pip install nats-py==2.16.0          # the only dependency; Python 3.9 or later
    NATS=$(grep -o 'nats://[^"]*' .raccordo/nats/run/*.ports | head -n1)
    python3 contracts/consumers/python/inbox_consumer.py --nats "$NATS" --party comune:magenta --once
    # {"cursor": 3, "id": "…", "type": "raccordo.dimissione_protetta.requested.v1", "pathway": "dp-…",
    #  "status": "requested", "waiting_on": ["comune:magenta"], "source": "asst:705", "time": "…"}

Without ``--once`` it keeps running, waiting for new events, until SIGINT (Ctrl-C) or SIGTERM.
``--nats`` defaults to ``$RACCORDO_NATS_URL``, then ``nats://127.0.0.1:4222``; credentials go in the
URL (``nats://user:password@host:4222``). ``--help`` lists the other options.

What it guarantees:

* **At least once.** A message is acknowledged only after :func:`handle` has returned, and the
  acknowledgement is confirmed by the server before the next event is handled. If ``handle``
  raises, the message is negatively acknowledged and JetStream delivers it again after
  ``--retry-delay`` seconds, as often as it takes (fix the handler; nothing is dropped). If the
  program dies between ``handle`` and the acknowledgement, the event comes again after ``--ack-wait``
  seconds. So an event can be handled twice: if that matters, make ``handle`` idempotent on the
  event's ``ce-id`` (``InboxEvent.id``; the same event carries the same id in every party's inbox),
  for example by storing the ids, or the last ``raccordo-source-sequence`` of each pathway, in the
  same transaction as the case data.
* **Resumes where it stopped.** The durable consumer (``--durable``, by default
  ``case-software-<party token>``) lives in JetStream: a new run, on this or another machine,
  starts after the last acknowledged event. The first run starts from the first event of the party.
  Run one instance per durable: two instances share its messages and each sees only some.
  To start again from the beginning, delete the consumer (``nats consumer rm RACCORDO_INBOX <durable>``).
* **Order.** Events arrive in the order the router wrote them: the order of raccordo's log, except
  that an organisation that joins a pathway late is first handed that pathway's earlier events
  (``raccordo-routed-by`` is then later than ``raccordo-source-sequence``). An event whose handling
  failed comes back later, after events that followed it. Of two events of one pathway, the one
  with the higher ``raccordo-source-sequence`` (``InboxEvent.source_sequence``) is the later.
* **Clean stop.** On SIGINT or SIGTERM the event in hand is finished and acknowledged, the rest of
  the batch is handed back to JetStream at once and the connection is drained (a message already on
  its way when the signal came is delivered again after ``--ack-wait``). A second signal stops at
  once; what was not acknowledged comes again.

Exit status: 0 after a clean stop or, with ``--once``, when everything there was is handled; 1 when
it cannot go on (no server, no ``RACCORDO_INBOX`` stream, a durable of that name filtered on
another party, ...); 2 for bad arguments (e.g. a malformed ``--party``); 3 when, with ``--once``,
some events could not be handled (they are delivered again next time).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import logging
import os
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Optional, Set, Tuple, Union

import nats
import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

STREAM = "RACCORDO_INBOX"
SUBJECT_PREFIX = "raccordo.inbox"
URL_ENV = "RACCORDO_NATS_URL"
DEFAULT_URL = "nats://127.0.0.1:4222"

# An organisation id as raccordo writes it (kind:code), the same rule as raccordo's OrgId.
PARTY_PATTERN = re.compile(
    r"^(ats:32[0-9]|asst:7[0-9]{2}|ambito:500[0-9]{2}|(comune|ente|centro):[a-z0-9]+(-[a-z0-9]+)*)$"
)

DURABLE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,200}$")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNHANDLED = 3

log = logging.getLogger("inbox_consumer")


class ConsumerError(Exception):
    """A condition the consumer cannot go on from; the message says what to do about it."""


class BadParty(ConsumerError):
    """The party is not an organisation id."""


def party_token(party: str) -> str:
    """The party as one NATS subject token: ``comune:magenta`` -> ``comune_magenta``."""
    if not PARTY_PATTERN.match(party):
        raise BadParty(
            f"party {party!r} is not valid: expected kind:code, e.g. comune:magenta, asst:705, "
            "ats:321, ente:ipis, centro:<slug> (kinds ats, asst, ambito, comune, ente, centro)"
        )
    return party.replace(":", "_")


def party_subjects(party: str) -> str:
    """Every inbox subject of one party, all pathway kinds."""
    return f"{SUBJECT_PREFIX}.{party_token(party)}.>"


def default_durable(party: str) -> str:
    return f"case-software-{party_token(party)}"


class BadMessage(Exception):
    """A message that is not a raccordo inbox event."""


@dataclass(frozen=True)
class InboxEvent:
    """One event as the party receives it."""

    cursor: int  # the message's sequence in RACCORDO_INBOX: the consumer's position
    id: str  # ce-id: the event id, the same in every party's inbox
    type: str  # ce-type, e.g. raccordo.dimissione_protetta.requested.v1
    source: str  # ce-source: who acted (only the kind of organisation in an aggregate view)
    pathway: str  # ce-subject: the pathway id
    time: str  # ce-time, RFC 3339 UTC
    party: str  # raccordo-party: whose inbox this is
    view: str  # raccordo-view: full, or aggregate (an ATS: no person-level data)
    status: str  # raccordo-status: the pathway's status after the event
    waiting_on: Tuple[str, ...]  # raccordo-waiting-on: who the pathway waits on after the event
    ambito: str  # raccordo-ambito: the pathway's Ambito territoriale, e.g. 50032
    source_sequence: int  # raccordo-source-sequence: the event's place in raccordo's log
    routed_by: int  # raccordo-routed-by: the event whose routing wrote this message (a late party's backfill)
    subject: str  # the NATS subject, raccordo.inbox.<party>.<kind>
    delivered: int  # how many times JetStream has delivered this message (1 the first time)
    data: Dict[str, Any] = field(repr=False)  # the event's body
    headers: Dict[str, str] = field(repr=False)  # every header, names in lower case

    @classmethod
    def from_msg(cls, msg: Msg) -> "InboxEvent":
        headers = {name.lower(): value for name, value in (msg.headers or {}).items()}

        def header(name: str) -> str:
            value = headers.get(name)
            if value is None:
                raise BadMessage(f"header {name} is missing")
            return value

        def number(name: str) -> int:
            try:
                return int(header(name))
            except ValueError:
                raise BadMessage(f"{name} is not a number") from None

        try:
            data = json.loads(msg.data or b"null")
        except ValueError as e:
            raise BadMessage(f"the body is not JSON: {e}") from None
        if not isinstance(data, dict):
            raise BadMessage("the body is not a JSON object")
        if header("ce-specversion") != "1.0":
            raise BadMessage(f"ce-specversion is {headers['ce-specversion']!r}, not 1.0")
        metadata = msg.metadata
        return cls(
            cursor=metadata.sequence.stream,
            id=header("ce-id"),
            type=header("ce-type"),
            source=header("ce-source"),
            pathway=header("ce-subject"),
            time=header("ce-time"),
            party=header("raccordo-party"),
            view=header("raccordo-view"),
            status=header("raccordo-status"),
            waiting_on=tuple(p for p in header("raccordo-waiting-on").split(",") if p),
            ambito=header("raccordo-ambito"),
            source_sequence=number("raccordo-source-sequence"),
            routed_by=number("raccordo-routed-by"),
            subject=msg.subject,
            delivered=metadata.num_delivered,
            data=data,
            headers=headers,
        )

    def summary(self) -> Dict[str, Any]:
        return {
            "cursor": self.cursor,
            "id": self.id,
            "type": self.type,
            "pathway": self.pathway,
            "status": self.status,
            "waiting_on": list(self.waiting_on),
            "source": self.source,
            "time": self.time,
        }


def handle(event: InboxEvent) -> None:
    """What the case software does with one event. Raise to have it delivered again later.

    This example prints one JSON line per event. Real case software would, say, open or update the
    case of ``event.pathway`` and put it on the worklist when ``event.waiting_on`` names its own
    organisation; an unknown ``event.type`` is a newer event type or version: skip it (or park it)
    rather than fail on it forever.
    """
    print(json.dumps(event.summary(), ensure_ascii=False), flush=True)


Handler = Callable[[InboxEvent], Union[None, Awaitable[None]]]


@dataclass
class Options:
    party: str
    nats: str = DEFAULT_URL
    durable: Optional[str] = None
    batch: int = 50
    ack_wait: float = 60.0
    retry_delay: float = 10.0
    fetch_wait: float = 30.0
    connect_timeout: float = 10.0
    once: bool = False

    def durable_name(self) -> str:
        return self.durable or default_durable(self.party)


async def connect(url: str, timeout: float) -> nats.aio.client.Client:
    """Connects, failing with a clear error after `timeout` seconds; later it reconnects forever."""
    last_error: List[BaseException] = []
    client: List[nats.aio.client.Client] = []  # set once connected

    async def on_error(e: Exception) -> None:
        if client:
            log.warning("NATS: %s", describe(e))
        else:
            last_error[:] = [e]  # reported if the first connection never comes

    async def on_disconnect() -> None:
        if client and not (client[0].is_closed or client[0].is_draining):
            log.warning("NATS: disconnected from %s; reconnecting", url)

    async def on_reconnect() -> None:
        log.info("NATS: reconnected")

    try:
        nc = await asyncio.wait_for(
            nats.connect(
                servers=[url],
                name="raccordo inbox consumer",
                connect_timeout=max(1, int(min(timeout, 5))),
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=2,
                error_cb=on_error,
                disconnected_cb=on_disconnect,
                reconnected_cb=on_reconnect,
            ),
            timeout,
        )
    except asyncio.TimeoutError:
        reason = f": {describe(last_error[0])}" if last_error else ""
        raise ConsumerError(
            f"cannot connect to NATS at {url} within {timeout:g} s{reason}. Is `raccordo up` running? "
            "Its embedded server's URL is in <state-dir>/nats/run/*.ports; pass it with --nats "
            f"or ${URL_ENV}"
        ) from None
    except Exception as e:  # a malformed URL, an authorisation error, ...
        raise ConsumerError(f"cannot connect to NATS at {url}: {describe(e)}") from None
    client.append(nc)
    return nc


def describe(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


async def bind(js: nats.js.JetStreamContext, options: Options) -> Tuple[Any, float]:
    """Binds to the party's durable pull consumer, creating it the first time.

    Returns the pull subscription and the consumer's ack wait in seconds.
    """
    subjects = party_subjects(options.party)
    durable = options.durable_name()
    try:
        await js.stream_info(STREAM)
    except nats.js.errors.NotFoundError:
        raise ConsumerError(
            f"there is no stream {STREAM} on {options.nats}: raccordo has not run against this "
            "server. Start `raccordo up` (it creates the stream), or point --nats at the server it "
            "uses (the embedded one's URL is in <state-dir>/nats/run/*.ports)"
        ) from None
    except (nats.errors.NoRespondersError, nats.js.errors.ServiceUnavailableError):
        raise ConsumerError(f"the NATS server at {options.nats} has no JetStream: it is not raccordo's") from None
    except asyncio.TimeoutError:
        raise ConsumerError(f"JetStream at {options.nats} did not answer") from None

    try:
        info = await js.consumer_info(STREAM, durable)
    except nats.js.errors.NotFoundError:
        config = ConsumerConfig(
            name=durable,
            durable_name=durable,
            description=f"case software of {options.party}",
            filter_subject=subjects,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=options.ack_wait,
            max_ack_pending=max(1000, options.batch),
        )
        info = await js.add_consumer(STREAM, config=config)
        log.info("created durable consumer %s on %s, filtered on %s", durable, STREAM, subjects)
    else:
        config = info.config
        filters = [config.filter_subject] if config.filter_subject else list(config.filter_subjects or [])
        if filters != [subjects]:
            raise ConsumerError(
                f"durable consumer {durable} on {STREAM} reads {', '.join(filters) or 'every subject'}, "
                f"not {subjects}: choose another --durable for {options.party}"
            )
        if config.deliver_subject or config.ack_policy != AckPolicy.EXPLICIT:
            raise ConsumerError(
                f"durable consumer {durable} on {STREAM} is not a pull consumer with explicit acks: "
                "choose another --durable"
            )
        log.info(
            "resuming durable consumer %s: %d events waiting", durable, (info.num_pending or 0) + (info.num_ack_pending or 0)
        )
    psub = await js.pull_subscribe_bind(durable=durable, stream=STREAM)
    return psub, info.config.ack_wait or options.ack_wait


async def fetch(psub, batch: int, wait: float, stop: asyncio.Event) -> Optional[List[Msg]]:
    """The next batch (empty when none came within `wait` seconds), or None once stopped."""
    fetching = asyncio.ensure_future(psub.fetch(batch, timeout=wait))
    stopping = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({fetching, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if fetching not in done:
        # Anything already on its way is not acknowledged: JetStream delivers it again after ack wait.
        fetching.cancel()
        await asyncio.gather(fetching, return_exceptions=True)
        return None
    try:
        return fetching.result()
    except asyncio.TimeoutError:  # nothing new; also while reconnecting
        return []
    except nats.js.errors.APIError as e:  # e.g. the consumer was deleted under us
        raise ConsumerError(f"reading the inbox failed: {describe(e)}") from None
    except nats.errors.ConnectionClosedError:
        raise ConsumerError("the connection to NATS was closed") from None


async def call(handler: Handler, event: InboxEvent) -> None:
    if inspect.iscoroutinefunction(handler):
        await handler(event)
    else:
        # In a thread, so that the connection stays alive however long the handler takes.
        await asyncio.to_thread(handler, event)


async def consume(options: Options, handler: Handler = handle, stop: Optional[asyncio.Event] = None) -> int:
    """Reads the party's inbox until `stop` is set or, with `once`, until it is drained.

    Returns how many events could not be handled (with `once`; they come again next time).
    """
    stop = stop or asyncio.Event()
    nc = await connect(options.nats, options.connect_timeout)
    try:
        js = nc.jetstream(timeout=10)
        psub, ack_wait = await bind(js, options)
        failed: Set[int] = set()  # with --once: cursors whose handling failed in this run
        while not stop.is_set():
            if options.once:
                info = await psub.consumer_info()
                if not info.num_pending and not info.num_ack_pending:
                    break  # drained: nothing new, nothing waiting to come again
            msgs = await fetch(psub, options.batch, 1.0 if options.once else options.fetch_wait, stop)
            if msgs is None:
                break
            fresh = []
            for msg in msgs:
                if msg.metadata.sequence.stream in failed:
                    await msg.nak(delay=options.retry_delay)  # failed once in this run: for the next one
                else:
                    fresh.append(msg)
            if fresh:
                not_handled = await process(fresh, options, ack_wait, handler, stop)
                if options.once:
                    failed.update(not_handled)
            elif options.once and (not msgs or not (await psub.consumer_info()).num_pending):
                break
        return len(failed) if options.once else 0
    finally:
        try:
            await nc.drain()
        except Exception as e:  # already closed: nothing left to hand back
            log.debug("drain: %s", describe(e))


async def process(
    msgs: List[Msg], options: Options, ack_wait: float, handler: Handler, stop: asyncio.Event
) -> List[int]:
    """Handles one batch in order: ack after `handler` returns, nak with a delay if it raises.

    Returns the cursors of the events whose handling failed.
    """
    failed = []
    fetched = time.monotonic()
    for i, msg in enumerate(msgs):
        if stop.is_set():
            for rest in msgs[i:]:
                await rest.nak()  # handed back at once, for whoever reads the inbox next
            break
        if time.monotonic() - fetched > ack_wait / 2:
            # A slow batch: tell JetStream the rest is still being worked on, not lost.
            for rest in msgs[i:]:
                await rest.in_progress()
            fetched = time.monotonic()
        cursor = msg.metadata.sequence.stream
        try:
            event = InboxEvent.from_msg(msg)
            await call(handler, event)
        except Exception as e:
            log.error(
                "event at cursor %d (%s, delivery %d) not handled: %s; it comes again in %g s",
                cursor,
                (msg.headers or {}).get("ce-type", "?"),
                msg.metadata.num_delivered,
                describe(e),
                options.retry_delay,
            )
            failed.append(cursor)
            await msg.nak(delay=options.retry_delay)
            continue
        try:
            await msg.ack_sync(timeout=10)
        except Exception as e:
            log.warning("acknowledgement of cursor %d not confirmed (%s): it may come again", cursor, describe(e))
    return failed


def parse_args(argv: Optional[List[str]]) -> Options:
    parser = argparse.ArgumentParser(
        description="Read one organisation's raccordo inbox (stream RACCORDO_INBOX) with a durable "
        "JetStream pull consumer and print one JSON line per event.",
    )
    parser.add_argument(
        "--nats",
        default=os.environ.get(URL_ENV) or DEFAULT_URL,
        help=f"NATS URL (default: ${URL_ENV}, else {DEFAULT_URL})",
    )
    parser.add_argument("--party", required=True, help="the organisation whose inbox to read, e.g. comune:magenta")
    parser.add_argument("--durable", help="durable consumer name (default: case-software-<party token>)")
    parser.add_argument("--batch", type=int, default=50, help="messages per fetch (default 50)")
    parser.add_argument(
        "--ack-wait",
        type=float,
        default=60.0,
        help="seconds an event may stay unacknowledged before JetStream delivers it again (default 60; "
        "applies when the durable is created)",
    )
    parser.add_argument(
        "--retry-delay", type=float, default=10.0, help="seconds before an event whose handling failed comes again"
    )
    parser.add_argument("--fetch-wait", type=float, default=30.0, help="seconds one fetch waits for new events")
    parser.add_argument("--connect-timeout", type=float, default=10.0, help="seconds to wait for the server at start")
    parser.add_argument("--once", action="store_true", help="handle what is there, then exit")
    args = parser.parse_args(argv)
    for name in ("batch", "ack_wait", "retry_delay", "fetch_wait", "connect_timeout"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    options = Options(**vars(args))
    try:
        party_token(options.party)
    except BadParty as e:
        parser.error(str(e))
    if not DURABLE_PATTERN.match(options.durable_name()):
        parser.error(f"durable name {options.durable!r} is not valid: letters, digits, '-' and '_' only")
    return options


async def run(options: Options) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            log.warning("stopping now; events not acknowledged come again")
            os._exit(128 + signum)
        log.info("stopping after the event in hand (signal again to stop at once)")
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    unhandled = await consume(options, handle, stop)
    if unhandled:
        log.error("%d events not handled; they come again on the next run", unhandled)
        return EXIT_UNHANDLED
    return EXIT_OK


def main(argv: Optional[List[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    options = parse_args(argv)
    try:
        return asyncio.run(run(options))
    except ConsumerError as e:
        log.error("%s", e)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
