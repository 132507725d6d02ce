"""Queue triggers of the local host against a real Azurite, with host.json's rules."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.storage.queue import QueueClient

from devtools.azurite import Azurite
from devtools.functions import Invoker, index_functions
from devtools.hostconfig import load_host_config
from devtools.triggers import QueueListener
from shared.container import Container
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
FAST = {
    "AzureFunctionsJobHost__extensions__queues__visibilityTimeout": "00:00:00.300",
    "AzureFunctionsJobHost__extensions__queues__maxPollingInterval": "00:00:00.200",
}


class Harness:
    """One queue-triggered function on its own queue, run by a QueueListener."""

    def __init__(
        self,
        azurite: Azurite,
        handler: Callable[[func.QueueMessage], None],
        lease: str | None = None,
        queues: dict[str, str] | None = None,
        workers: int = 4,
    ) -> None:
        self.queue_name = f"q{uuid.uuid4().hex[:12]}"
        self.received: list[func.QueueMessage] = []
        app = func.FunctionApp()

        @app.queue_trigger(arg_name="msg", queue_name=self.queue_name, connection="Storage")
        def probe(msg: func.QueueMessage) -> None:
            self.received.append(msg)
            handler(msg)

        (spec,) = index_functions(app)
        overrides = {f"AzureFunctionsJobHost__extensions__queues__{k}": v
                     for k, v in (queues or {}).items()}  # fmt: skip
        self.config = load_host_config(ROOT / "host.json", environ={**FAST, **overrides})
        self.invoker = Invoker(max_workers=workers, timeout=30)
        settings = {"Storage": azurite.connection_string}
        if lease:
            settings["LOCALHOST_QUEUE_MESSAGE_LEASE"] = lease
        self.listener = QueueListener(spec, settings, self.config.queues, self.invoker, 30)
        self.raw = QueueClient.from_connection_string(azurite.connection_string, self.queue_name)
        self.poison = QueueClient.from_connection_string(
            azurite.connection_string, f"{self.queue_name}-poison"
        )

    def start(self) -> Harness:
        self.listener.start()
        wait_for(lambda: self._exists(self.raw))
        return self

    @staticmethod
    def _exists(client: QueueClient) -> bool:
        try:
            client.get_queue_properties()
        except Exception:
            return False
        return True

    def stop(self) -> None:
        self.listener.stop()
        self.listener.join(10)
        self.invoker.close(10)

    def remaining(self) -> int:
        return int(self.raw.get_queue_properties().approximate_message_count)


@pytest.fixture
def harness(azurite: Azurite) -> Iterator[Callable[..., Harness]]:
    started: list[Harness] = []

    def start(
        handler: Callable[[func.QueueMessage], None] = lambda msg: None,
        lease: str | None = None, **options: Any,
    ) -> Harness:  # fmt: skip
        value = Harness(azurite, handler, lease, **options).start()
        started.append(value)
        return value

    yield start
    for value in started:
        value.stop()


def test_a_message_that_succeeds_is_deleted(harness: Callable[..., Harness]) -> None:
    h = harness()
    h.raw.send_message(base64.b64encode(b'{"hello": "world"}').decode())
    wait_for(lambda: h.received)
    message = h.received[0]
    assert message.get_json() == {"hello": "world"}
    assert message.dequeue_count == 1
    assert message.id
    assert message.pop_receipt
    assert message.insertion_time is not None
    wait_for(lambda: h.remaining() == 0)
    assert h.raw.peek_messages() == []
    assert not Harness._exists(h.poison)


def test_a_failing_message_is_retried_max_dequeue_count_times_then_poisoned_intact(
    harness: Callable[..., Harness],
) -> None:
    def fail(msg: func.QueueMessage) -> None:
        raise RuntimeError("always fails")

    h = harness(fail)
    raw_content = base64.b64encode("payload é ✓".encode()).decode()
    h.raw.send_message(raw_content)
    wait_for(lambda: Harness._exists(h.poison) and h.poison.peek_messages(), timeout=30)
    assert [m.dequeue_count for m in h.received] == [1, 2, 3, 4, 5]
    assert len({m.id for m in h.received}) == 1
    (poisoned,) = h.poison.peek_messages()
    assert poisoned.content == raw_content  # moved unchanged, still base64
    assert h.remaining() == 0
    time.sleep(1.0)  # no sixth attempt after the move
    assert len(h.received) == 5


def test_a_message_that_fails_once_succeeds_on_the_retry(harness: Callable[..., Harness]) -> None:
    def fail_first(msg: func.QueueMessage) -> None:
        if msg.dequeue_count == 1:
            raise RuntimeError("transient")

    h = harness(fail_first)
    h.raw.send_message(base64.b64encode(b"x").decode())
    wait_for(lambda: len(h.received) == 2)
    wait_for(lambda: h.remaining() == 0)
    assert [m.dequeue_count for m in h.received] == [1, 2]


def test_the_apps_own_queue_client_speaks_base64_to_the_trigger(
    harness: Callable[..., Harness], make_container: Callable[..., Container]
) -> None:
    h = harness()
    app_queue = make_container().queue(h.queue_name)
    app_queue.send(json.dumps({"job_id": "j1", "text": "Zürich ☀"}))
    wait_for(lambda: h.received)
    assert h.received[0].get_json() == {"job_id": "j1", "text": "Zürich ☀"}


def test_a_message_that_is_not_base64_goes_to_poison_without_reaching_the_function(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    h.raw.send_message("not base64 !!")
    wait_for(lambda: Harness._exists(h.poison) and h.poison.peek_messages(), timeout=30)
    assert h.received == []
    assert h.poison.peek_messages()[0].content == "not base64 !!"


def test_a_batch_is_processed_concurrently(harness: Callable[..., Harness]) -> None:
    active = 0
    peak = 0
    lock = threading.Lock()

    def slow(msg: func.QueueMessage) -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.3)
        with lock:
            active -= 1

    h = harness(slow)
    for index in range(4):
        h.raw.send_message(base64.b64encode(str(index).encode()).decode())
    wait_for(lambda: len(h.received) == 4)
    wait_for(lambda: h.remaining() == 0)
    assert peak >= 2


def test_the_next_batch_is_received_when_the_running_are_down_to_new_batch_threshold(
    harness: Callable[..., Harness],
) -> None:
    """batchSize 4, newBatchThreshold 2: 4 run; when 2 of them finish, the next 4 are
    received at once, so 6 run together and never more (the WebJobs QueueListener's
    WaitForNewBatchThreshold, Azure/azure-webjobs-sdk
    src/Microsoft.Azure.WebJobs.Host/Queues/Listeners/QueueListener.cs; the host.json
    reference: at most batchSize plus newBatchThreshold at once). A listener that waited for
    its whole batch would run only the 2 still held."""
    running: set[str] = set()
    peak = 0
    lock = threading.Lock()
    release = {str(i): threading.Event() for i in range(10)}

    def held(msg: func.QueueMessage) -> None:
        nonlocal peak
        body = msg.get_body().decode()
        with lock:
            running.add(body)
            peak = max(peak, len(running))
        release[body].wait(20)
        with lock:
            running.discard(body)

    h = harness(held, queues={"batchSize": "4", "newBatchThreshold": "2"}, workers=10)
    for index in range(10):
        h.raw.send_message(base64.b64encode(str(index).encode()).decode())
    wait_for(lambda: len(running) == 4)
    first = sorted(running)
    time.sleep(0.5)  # the listener may poll meanwhile: it must not receive more
    assert len(running) == 4
    for body in first[:2]:
        release[body].set()
    wait_for(lambda: len(running) == 6, timeout=10)
    time.sleep(0.5)
    assert len(running) == 6 and peak == 6
    for event in release.values():
        event.set()
    wait_for(lambda: len(h.received) == 10 and h.remaining() == 0, timeout=20)
    assert peak == 6


def test_a_running_message_stays_hidden_past_its_lease_by_renewal(
    harness: Callable[..., Harness],
) -> None:
    h = harness(lambda msg: time.sleep(2.5), lease="1")
    h.raw.send_message(base64.b64encode(b"slow").decode())
    wait_for(lambda: h.received)
    wait_for(lambda: h.remaining() == 0, timeout=10)
    assert len(h.received) == 1  # renewed every 0.5 s, never shown to a second receive
