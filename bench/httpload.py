"""The HTTP load client and the Meta webhook payloads the benches send."""

import http.client
import socket
import threading
import time

from common import PHONE_NUMBER_ID, WABA_ID


class NoDelayHTTPConnection(http.client.HTTPConnection):
    """http.client sends a request's headers and body in two writes: with Nagle on, the
    body waits for the server's delayed ACK of the headers (about 40 ms on Linux), a
    cost of the client that would be charged to every POST. Turn Nagle off."""

    def connect(self):
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send_output(self, message_body=None, encode_chunked=False):
        """The headers and a body in one write, as a provider sends a small POST.

        http.client writes them apart, and between the two writes another of this
        client's threads can hold the GIL (for up to its 5 ms switch interval, on a
        machine whose CPUs the server uses too) while the server's worker, which has
        read the headers, waits for the body: a cost of this client, charged to every
        POST and to no GET."""
        if not isinstance(message_body, bytes) or encode_chunked:
            return super()._send_output(message_body, encode_chunked)
        self._buffer.extend((b"", b""))
        request = b"\r\n".join(self._buffer) + message_body
        del self._buffer[:]
        return self.send(request)


def run_load(port, requests_by_thread, max_seconds):
    """Send each thread's list of (method, path, body, headers) over one keep-alive
    http.client connection (reopened when the server closes it).

    Returns (elapsed seconds, latencies, status counts, errors)."""
    latencies = []
    statuses = {}
    errors = []
    lock = threading.Lock()
    start_gate = threading.Event()
    deadline_holder = {}

    def worker(items):
        conn = NoDelayHTTPConnection("127.0.0.1", port, timeout=30)
        local_lat, local_status, local_err = [], {}, []
        start_gate.wait()
        for method, path, body, headers in items:
            if time.monotonic() > deadline_holder["deadline"]:
                local_err.append("time limit reached")
                break
            began = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as error:
                local_err.append(f"{type(error).__name__}: {error}")
                conn.close()
                conn = NoDelayHTTPConnection("127.0.0.1", port, timeout=30)
                continue
            local_lat.append(time.perf_counter() - began)
            local_status[status] = local_status.get(status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(local_lat)
            errors.extend(local_err)
            for status, count in local_status.items():
                statuses[status] = statuses.get(status, 0) + count

    threads = [
        threading.Thread(target=worker, args=(items,), daemon=True) for items in requests_by_thread
    ]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    deadline_holder["deadline"] = time.monotonic() + max_seconds
    start_gate.set()
    for thread in threads:
        thread.join(max_seconds + 60)
    elapsed = time.perf_counter() - started
    return elapsed, latencies, statuses, errors


def _webhook(value):
    """A Meta webhook body with one change to the bench number carrying ``value``."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "56223456789",
                                "phone_number_id": PHONE_NUMBER_ID,
                            },
                            **value,
                        },
                    }
                ],
            }
        ],
    }


def status_payload(wamids_and_recipients, status="delivered"):
    timestamp = str(int(time.time()))
    return _webhook(
        {
            "statuses": [
                {
                    "id": wamid,
                    "status": status,
                    "timestamp": timestamp,
                    "recipient_id": recipient,
                    "pricing": {"billable": True, "pricing_model": "PMP", "category": "utility"},
                }
                for wamid, recipient in wamids_and_recipients
            ]
        }
    )


def inbound_text_payload(wamid, sender, text, name="Usuario WhatsApp"):
    """A webhook carrying one inbound text from ``sender`` (wa_id digits)."""
    return _webhook(
        {
            "contacts": [{"profile": {"name": name}, "wa_id": sender}],
            "messages": [
                {
                    "from": sender,
                    "id": wamid,
                    "timestamp": str(int(time.time())),
                    "type": "text",
                    "text": {"body": text},
                }
            ],
        }
    )
