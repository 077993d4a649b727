"""The body limit, read through Odoo's own request wrapper, as every 16.0 release has it.

Later 16.0 releases expose only ``HTTPREQUEST_ATTRIBUTES`` on ``odoo.http.HTTPRequest``
(no ``stream``); reading the body any other way is a 500 on every signed webhook there.
These tests build the real wrapper from a WSGI environ, so they fail on any code that
reaches past the public API.
"""

import io

from werkzeug.test import EnvironBuilder

from odoo import http
from odoo.tests import BaseCase

from ..controllers.body import DRAIN_LIMIT_BYTES, BodyTooLarge, read_body


def _request(body, chunked=False):
    environ = EnvironBuilder(
        method="POST", data=body, content_type="application/json"
    ).get_environ()
    if chunked:
        # What Odoo's WSGI server hands over for Transfer-Encoding: chunked.
        del environ["CONTENT_LENGTH"]
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
        environ["wsgi.input"] = io.BytesIO(body)
        environ["wsgi.input_terminated"] = True
    return http.HTTPRequest(environ)


class TestRequestBody(BaseCase):
    def test_the_wrapper_has_no_stream(self):
        # The premise of the other tests: if this ever changes, they still hold.
        self.assertNotIn("stream", http.HTTPREQUEST_ATTRIBUTES)
        with self.assertRaises(AttributeError):
            _request(b"{}").stream  # noqa: B018

    def test_body_within_the_limit_is_returned_whole(self):
        for chunked in (False, True):
            with self.subTest(chunked=chunked):
                self.assertEqual(read_body(_request(b'{"a": 1}', chunked), 100), b'{"a": 1}')

    def test_declared_length_over_the_limit_is_refused_and_drained(self):
        with self.assertRaises(BodyTooLarge) as caught:
            read_body(_request(b"x" * 101), 100)
        self.assertTrue(caught.exception.drained)

    def test_chunked_body_over_the_limit_is_refused(self):
        with self.assertRaises(BodyTooLarge):
            read_body(_request(b"x" * 101, chunked=True), 100)

    def test_huge_declared_length_is_refused_without_reading(self):
        environ = EnvironBuilder(method="POST", data=b"x").get_environ()
        environ["CONTENT_LENGTH"] = str(DRAIN_LIMIT_BYTES + 1)
        environ["wsgi.input"] = _Unreadable()
        with self.assertRaises(BodyTooLarge) as caught:
            read_body(http.HTTPRequest(environ), 100)
        self.assertFalse(caught.exception.drained)


class _Unreadable(io.RawIOBase):
    def readable(self):
        return True

    def readinto(self, _buffer):
        raise AssertionError("a body declared far over the limit must not be read")
