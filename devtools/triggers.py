"""Queue and timer triggers with the Functions host's semantics.

Queue trigger (per function, one polling thread):
- receives up to ``batchSize`` messages, hidden for the function timeout while they run;
- receives the next batch as soon as the messages still being processed are down to
  ``newBatchThreshold``, so at most ``batchSize + newBatchThreshold`` run at once (the
  WebJobs ``QueueListener``'s ``WaitForNewBatchThreshold``: Azure/azure-webjobs-sdk,
  src/Microsoft.Azure.WebJobs.Host/Queues/Listeners/QueueListener.cs; host.json reference:
  "the maximum number of concurrent messages being processed per function is batchSize
  plus newBatchThreshold");
- an empty queue backs the polling interval off exponentially (with jitter) from 100 ms up
  to ``maxPollingInterval``; a message found resets it;
- ``messageEncoding: base64`` messages are decoded before the function sees them;
- success deletes the message; failure makes it visible again after ``visibilityTimeout``
  (its dequeue count grows on the next receive); a failure at ``maxDequeueCount`` moves
  the message, content unchanged, to ``<queue>-poison``.

Timer trigger (per function, one scheduling thread): NCRONTAB occurrences in UTC, one
invocation at a time, ``runOnStartup``, and a schedule status blob in
``azure-webjobs-hosts`` (as the host keeps) so an occurrence missed while the host was down
runs at start with ``past_due`` true.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import math
import random
import threading
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest

from devtools import storage
from devtools.functions import FunctionSpec, Invoker, Outcome
from devtools.hostconfig import QueueOptions
from devtools.ncrontab import Schedule, resolve_setting_expressions

log = logging.getLogger("host")

MIN_POLLING_INTERVAL = 0.1
TIMER_CONTAINER = "azure-webjobs-hosts"


class MessageDecodeError(ValueError):
    pass


def decode_message(content: str, encoding: str) -> bytes:
    """The message body as the function receives it (``messageEncoding`` of host.json)."""
    if encoding == "none":
        return content.encode("utf-8")
    try:
        return base64.b64decode(content.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise MessageDecodeError(
            "message is not valid base64 (host.json queues.messageEncoding is 'base64')"
        ) from exc


class QueueListener:
    def __init__(
        self,
        spec: FunctionSpec,
        settings: Mapping[str, str],
        options: QueueOptions,
        invoker: Invoker,
        function_timeout: float,
    ) -> None:
        self.spec = spec
        self.options = options
        self.invoker = invoker
        self.queue_name = resolve_setting_expressions(spec.binding["queueName"], settings).lower()
        connection = spec.binding.get("connection") or "AzureWebJobsStorage"
        self.service = storage.queue_service(settings, connection)
        self.queue = self.service.get_queue_client(self.queue_name)
        self.poison = self.service.get_queue_client(f"{self.queue_name}-poison")
        # While a function runs, its message stays hidden for a lease that is renewed at
        # half time (as the Functions host does, with 10 minutes); if the host dies, the
        # message reappears when the lease runs out. LOCALHOST_QUEUE_MESSAGE_LEASE (seconds)
        # shortens it for tests that kill the host.
        lease = float(settings.get("LOCALHOST_QUEUE_MESSAGE_LEASE") or 600)
        self.processing_visibility = max(1, math.ceil(lease))
        self._in_flight: dict[str, Any] = {}  # by message id, for the lease renewal
        self._processing: set[Future[Outcome]] = set()  # settled: run, then deleted or released
        self._lock = threading.Lock()
        self._renewer = threading.Thread(target=self._renew, name=f"renew-{spec.name}", daemon=True)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"queue-{spec.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._renewer.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.processing_visibility / 2):
            with self._lock:
                messages = list(self._in_flight.values())
            for message in messages:
                with self._lock:
                    if message.id not in self._in_flight:
                        continue
                    try:
                        receipt = self.queue.update_message(
                            message.id, message.pop_receipt,
                            visibility_timeout=self.processing_visibility,
                        )  # fmt: skip
                        message.pop_receipt = receipt.pop_receipt
                    except AzureError as exc:
                        log.warning("Queue '%s' message %s lease not renewed: %s",
                                    self.queue_name, message.id, type(exc).__name__)  # fmt: skip

    def _ensure_queue(self) -> bool:
        try:
            self.queue.create_queue()
        except ResourceExistsError:
            pass
        except AzureError as exc:
            log.warning("Queue '%s' cannot be created yet: %s", self.queue_name,
                        exc.__class__.__name__)  # fmt: skip
            return False
        return True

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        interval = MIN_POLLING_INTERVAL
        while not self._ensure_queue():
            if self._stop.wait(self.options.max_polling_interval):
                return
        while not self._stop.is_set():
            try:
                found = self.poll_once()
            except AzureError as exc:
                log.warning(
                    "Queue '%s' poll failed: %s",
                    self.queue_name,
                    exc.__class__.__name__,
                    extra={"queue": self.queue_name},
                )
                found = 0
            if found:
                interval = MIN_POLLING_INTERVAL
                self._wait_for_new_batch_threshold()
                continue
            self._wake.wait(interval * random.uniform(0.8, 1.0))
            self._wake.clear()
            interval = min(interval * 2, max(self.options.max_polling_interval, 0.1))
        self._wait_for_new_batch_threshold(0)  # stopping: every message received is settled

    def _wait_for_new_batch_threshold(self, threshold: int | None = None) -> None:
        """Wait until at most ``threshold`` (``newBatchThreshold``) messages are still being
        processed."""
        limit = self.options.new_batch_threshold if threshold is None else threshold
        while len(self._processing) > limit:
            done, _ = wait(self._processing, return_when=FIRST_COMPLETED)
            self._processing -= done

    def poll_once(self) -> int:
        """Receive one batch and start processing it; return how many messages were
        received (the run loop waits for the new-batch threshold)."""
        pages = self.queue.receive_messages(
            messages_per_page=self.options.batch_size,
            visibility_timeout=self.processing_visibility,
        ).by_page()
        messages = list(next(pages, []))
        for message in messages:
            if (message.dequeue_count or 0) > self.options.max_dequeue_count:
                # Already failed maxDequeueCount times (e.g. the host died mid-run).
                self._move_to_poison(message)
                continue
            future = self._process(message)
            if future is not None:
                self._processing.add(future)
        return len(messages)

    def _process(self, message: Any) -> Future[Outcome] | None:
        try:
            body = decode_message(message.content, self.options.message_encoding)
        except MessageDecodeError as exc:
            log.error("Queue '%s' message %s: %s", self.queue_name, message.id, exc)
            self._failed(message)
            return None
        argument = QueueMessage(
            id=message.id,
            body=body,
            dequeue_count=message.dequeue_count,
            expiration_time=message.expires_on,
            insertion_time=message.inserted_on,
            time_next_visible=message.next_visible_on,
            pop_receipt=message.pop_receipt,
        )
        future = self.invoker.submit(
            self.spec,
            argument,
            {"queue": self.queue_name, "message_id": message.id,
             "dequeue_count": message.dequeue_count},
        )  # fmt: skip

        settled: Future[Outcome] = Future()
        with self._lock:
            self._in_flight[message.id] = message

        def settle(done: Future[Outcome]) -> None:
            with self._lock:  # no renewal may change the pop receipt from here on
                self._in_flight.pop(message.id, None)
            try:
                if done.result().succeeded:
                    self.queue.delete_message(message.id, message.pop_receipt)
                else:
                    self._failed(message)
            except AzureError as exc:
                # The message reappears after its visibility timeout and is retried.
                log.warning("Queue '%s' message %s not settled: %s", self.queue_name,
                            message.id, exc.__class__.__name__)  # fmt: skip
            finally:
                settled.set_result(done.result())

        future.add_done_callback(settle)
        return settled

    def _failed(self, message: Any) -> None:
        if (message.dequeue_count or 0) >= self.options.max_dequeue_count:
            self._move_to_poison(message)
            return
        self.queue.update_message(
            message.id,
            message.pop_receipt,
            visibility_timeout=int(self.options.visibility_timeout),
        )

    def _move_to_poison(self, message: Any) -> None:
        with contextlib.suppress(ResourceExistsError):
            self.poison.create_queue()
        self.poison.send_message(message.content)  # raw: the content is moved unchanged
        self.queue.delete_message(message.id, message.pop_receipt)
        log.warning(
            "Message %s has reached MaxDequeueCount of %s; moved to '%s-poison'",
            message.id,
            self.options.max_dequeue_count,
            self.queue_name,
            extra={"queue": self.queue_name, "message_id": message.id},
        )


class TimerRunner:
    def __init__(
        self,
        spec: FunctionSpec,
        schedule: Schedule,
        invoker: Invoker,
        settings: Mapping[str, str],
        host_id: str,
    ) -> None:
        self.spec = spec
        self.schedule = schedule
        self.invoker = invoker
        self.run_on_startup = bool(spec.binding.get("runOnStartup"))
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one invocation of a timer function at a time
        self._thread = threading.Thread(target=self._run, name=f"timer-{spec.name}", daemon=True)
        self._status_blob: Any = None
        try:
            container = storage.blob_service(settings, "AzureWebJobsStorage").get_container_client(
                TIMER_CONTAINER
            )
            self._status_blob = container.get_blob_client(f"timers/{host_id}/{spec.name}/status")
            self._container = container
        except ValueError:
            self._status_blob = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def next_after(self, moment: datetime) -> datetime:
        return self.schedule.next_after(moment)

    def invoke(self, past_due: bool, source: str) -> Outcome:
        now = datetime.now(UTC)
        request = TimerRequest(
            past_due=past_due,
            schedule_status={"Next": self.next_after(now).isoformat()},
            schedule={"AdjustForDST": False},
        )
        with self._lock:
            outcome = self.invoker.invoke(
                self.spec, request, {"past_due": past_due, "reason": source}
            )
        self._save_status(now)
        return outcome

    def _load_status(self) -> dict[str, Any] | None:
        if self._status_blob is None:
            return None
        try:
            data = json.loads(self._status_blob.download_blob().readall())
        except ResourceNotFoundError:
            return None
        except (AzureError, ValueError) as exc:
            log.warning("Timer status of '%s' unreadable: %s", self.spec.name, exc)
            return None
        return data if isinstance(data, dict) else None

    def _save_status(self, last: datetime | None) -> None:
        """Record the last run and the next occurrence, as the host's schedule monitor does."""
        if self._status_blob is None:
            return
        now = datetime.now(UTC)
        status = {
            "Last": last.isoformat() if last else None,
            "Next": self.next_after(last or now).isoformat(),
            "LastUpdated": now.isoformat(),
        }
        try:
            with contextlib.suppress(ResourceExistsError):
                self._container.create_container()
            self._status_blob.upload_blob(json.dumps(status), overwrite=True)
        except AzureError as exc:
            log.warning("Timer status of '%s' not saved: %s", self.spec.name, exc)

    def _run(self) -> None:
        status = self._load_status()
        missed = False
        if status and status.get("Next"):
            try:
                missed = datetime.fromisoformat(status["Next"]) < datetime.now(UTC)
            except ValueError:
                missed = False
        if missed:
            self.invoke(past_due=True, source="missed")
        elif self.run_on_startup:
            self.invoke(past_due=False, source="startup")
        elif status is None:
            self._save_status(None)  # so that a stop before the first run is noticed
        moment = datetime.now(UTC)
        while not self._stop.is_set():
            due = self.next_after(moment)
            delay = (due - datetime.now(UTC)).total_seconds()
            if delay > 0 and self._stop.wait(delay):
                return
            late = datetime.now(UTC) - due > timedelta(seconds=5)
            try:
                self.invoke(past_due=late, source="schedule")
            except Exception:
                log.exception("Timer '%s' could not be invoked", self.spec.name)
            # The next occurrence after now: a run longer than the interval skips, not piles up.
            moment = max(due, datetime.now(UTC))
