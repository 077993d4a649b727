import socket
import unittest

import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from ofitec_whatsapp.tools.cloud_api import CloudApiClient
from ofitec_whatsapp.tools.errors import RetryableError, UncertainDeliveryError
from ofitec_whatsapp.tools.network import CAUSES, network_cause


def _wrapped(reason):
    """What requests raises when urllib3 gave up connecting because of ``reason``."""
    return requests.exceptions.ConnectionError(MaxRetryError(None, "/v23.0/1", reason))


def _dns_failure():
    error = NewConnectionError(None, "Failed to establish a new connection")
    error.__context__ = socket.gaierror(-2, "Name or service not known")
    return _wrapped(error)


class TestNetworkCause(unittest.TestCase):
    def test_causes(self):
        cases = [
            (_dns_failure(), "dns"),
            (
                _wrapped(
                    NewConnectionError(
                        None,
                        "Failed to establish a new connection: [Errno -3] "
                        "Temporary failure in name resolution",
                    )
                ),
                "dns",
            ),
            (_wrapped(NewConnectionError(None, "[Errno 111] Connection refused")), "refused"),
            (requests.exceptions.ConnectTimeout("connect timed out"), "connect_timeout"),
            (requests.exceptions.ReadTimeout("read timed out"), "read_timeout"),
            (requests.exceptions.SSLError("certificate verify failed"), "tls"),
            (requests.exceptions.ProxyError("407"), "proxy"),
            (
                requests.exceptions.ConnectionError(
                    ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
                ),
                "lost",
            ),
            (requests.exceptions.MissingSchema("no schema"), "invalid_url"),
            (requests.exceptions.ConnectionError("boom"), "other"),
            (requests.exceptions.ConnectionError(), "other"),
        ]
        for exc, expected in cases:
            with self.subTest(exc=repr(exc)):
                self.assertEqual(network_cause(exc), expected)
                self.assertIn(expected, CAUSES)

    def test_client_error_names_host_and_cause(self):
        session = requests.Session()
        exc = _dns_failure()

        def fail(*args, **kwargs):
            raise exc

        session.post = fail
        client = CloudApiClient("token", "1", session=session)
        with self.assertRaises(RetryableError) as caught:
            client.send_text("+56912345678", "x")
        error = caught.exception
        self.assertEqual(error.host, "graph.facebook.com")
        self.assertEqual(error.network_cause, "dns")
        self.assertIn("could not reach graph.facebook.com: name resolution failed", str(error))
        self.assertNotIn("MaxRetryError", str(error))

    def test_lost_after_sending_keeps_its_class(self):
        session = requests.Session()

        def fail(*args, **kwargs):
            raise requests.exceptions.ConnectionError(
                ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
            )

        session.post = fail
        client = CloudApiClient("token", "1", base_url="https://graph.example", session=session)
        with self.assertRaises(UncertainDeliveryError) as caught:
            client.send_text("+56912345678", "x")
        self.assertEqual(caught.exception.network_cause, "lost")
        self.assertEqual(caught.exception.host, "graph.example")


if __name__ == "__main__":
    unittest.main()
