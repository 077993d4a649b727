"""tools.transport: the clients' connections say when a request left, not when it was
answered. A loopback server stands in for the provider (a socket, not a fake adapter:
the stamp happens below the adapter, in the connection)."""

import http.server
import threading
import time
import unittest

import requests

from ofitec_whatsapp.tools import transport
from ofitec_whatsapp.tools.cloud_api import CloudApiClient
from ofitec_whatsapp.tools.twilio_client import TwilioClient

ANSWER_DELAY = 0.3


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    """Notes when it read the request, then answers ANSWER_DELAY seconds later."""

    def do_POST(self):
        self.server.read_at.append(time.monotonic())
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(ANSWER_DELAY)
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class TestDeparture(unittest.TestCase):
    def setUp(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
        self.server.read_at = []
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 5)
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/messages"

    def test_the_callback_runs_when_the_request_left_not_when_it_was_answered(self):
        departures = []
        with transport.session() as http_session:
            with transport.on_departure(lambda: departures.append(time.monotonic())):
                response = http_session.post(self.url, json={"to": "1"}, timeout=5)
            answered = time.monotonic()
        self.assertEqual(response.status_code, 200)
        self.assertEqual(len(departures), 1)
        (read_at,) = self.server.read_at
        self.assertLess(abs(departures[0] - read_at), 0.1)
        self.assertLess(departures[0], answered - ANSWER_DELAY / 2)

    def test_nothing_is_called_outside_the_block_or_on_another_thread(self):
        departures = []
        with transport.session() as http_session:
            http_session.post(self.url, data=b"x", timeout=5)
            with transport.on_departure(lambda: departures.append("main")):
                other = threading.Thread(
                    target=lambda: http_session.post(self.url, data=b"y", timeout=5)
                )
                other.start()
                other.join(5)
            http_session.post(self.url, data=b"z", timeout=5)
        self.assertEqual(len(self.server.read_at), 3)
        self.assertEqual(departures, [])

    def test_blocks_nest_and_restore_the_outer_callback(self):
        calls = []
        with transport.session() as http_session:
            with transport.on_departure(lambda: calls.append("outer")):
                with transport.on_departure(lambda: calls.append("inner")):
                    http_session.post(self.url, data=b"a", timeout=5)
                http_session.post(self.url, data=b"b", timeout=5)
        self.assertEqual(calls, ["inner", "outer"])


class TestMount(unittest.TestCase):
    def test_mount_keeps_the_retry_policy_it_replaces(self):
        http_session = requests.Session()
        http_session.mount("https://", requests.adapters.HTTPAdapter(max_retries=3))
        transport.mount(http_session)
        adapter = http_session.get_adapter("https://graph.facebook.com/")
        self.assertIsInstance(adapter, transport.DepartureAdapter)
        self.assertEqual(adapter.max_retries.total, 3)
        self.assertIsInstance(http_session.get_adapter("http://x/"), transport.DepartureAdapter)

    def test_the_clients_send_through_stamped_connections(self):
        meta = CloudApiClient("token", "123456")
        twilio = TwilioClient("AC" + "0" * 32, "secret", "whatsapp:+14155238886")
        for name, http_session in (("meta", meta.session), ("twilio", twilio.http_client.session)):
            with self.subTest(client=name):
                adapter = http_session.get_adapter("https://graph.facebook.com/")
                self.assertIsInstance(adapter, transport.DepartureAdapter)

    def test_an_injected_session_is_left_as_it_is(self):
        http_session = requests.Session()
        client = CloudApiClient("token", "123456", session=http_session)
        self.assertIs(client.session, http_session)
        adapter = http_session.get_adapter("https://graph.facebook.com/")
        self.assertNotIsInstance(adapter, transport.DepartureAdapter)


if __name__ == "__main__":
    unittest.main()
