"""Reading a request body under a size limit, with only Odoo's public request API.

Later Odoo 16.0 releases wrap werkzeug's request in ``odoo.http.HTTPRequest`` and expose
only the names in ``HTTPREQUEST_ATTRIBUTES``: ``content_length`` and ``get_data`` are
there, ``stream`` is not. So the limit is applied in two steps:

* a declared ``Content-Length`` over the limit is refused before anything is read. The
  body is still read and discarded when it is no larger than ``DRAIN_LIMIT_BYTES``, so
  that the client, which is still sending, receives the 413 instead of a connection
  reset; a larger one is not read at all and the connection is closed after the answer;
* a chunked body (no ``Content-Length``) is read whole by ``get_data`` and refused when
  it turns out larger. Its memory cost is bounded only by the server in front of Odoo:
  set ``client_max_body_size`` (nginx) or its equivalent, as Odoo's own deployment
  guide recommends for any Odoo exposed to the Internet.

A form-encoded body (Twilio's webhooks) is parsed by Odoo before the route runs, which
empties the stream: it is rebuilt from the parsed form (every name, every value, in
order), which is what Twilio signs (decoded values, spec B4.3). Odoo parses it whole,
whatever its size (werkzeug sets no limit of its own), to pass its fields to the route
as arguments; so the first step also runs before that, for the routes that declare
their limit (``body_limit``, applied by ``models/ir_http.py``): a form declared too
large is never parsed. A chunked form is parsed whole before any check can run (the
server in front of Odoo bounds it, as above).
"""

from urllib.parse import urlencode

DRAIN_LIMIT_BYTES = 16 * 1024 * 1024


class BodyTooLarge(Exception):
    """The body is over the limit; ``drained`` tells whether it was read whole."""

    def __init__(self, drained):
        super().__init__("request body too large")
        self.drained = drained


def body_limit(limit, too_large):
    """The routing options of a route whose body may not exceed ``limit`` bytes:
    ``ir.http`` refuses a body declared larger before Odoo reads or parses it, with the
    route's own answer, ``too_large(BodyTooLarge) -> Response``. Pass them to
    ``http.route(**body_limit(...))``; the route still reads its body with
    :func:`read_body` (a chunked body declares no length)."""
    return {"body_limit": (limit, too_large)}


def check_declared_length(httprequest, limit):
    """:class:`BodyTooLarge` when the declared ``Content-Length`` is over ``limit``
    (the body drained first when small enough, see the module); reads nothing else."""
    declared = httprequest.content_length or 0
    if declared > limit:
        drained = declared <= DRAIN_LIMIT_BYTES
        if drained:
            httprequest.get_data(cache=False)
        raise BodyTooLarge(drained)


def read_body(httprequest, limit):
    """The raw body bytes; :class:`BodyTooLarge` when over ``limit`` bytes."""
    check_declared_length(httprequest, limit)
    raw = httprequest.get_data(cache=False)
    if not raw and httprequest.form:
        raw = urlencode(list(httprequest.form.items(multi=True))).encode()
    if len(raw) > limit:
        raise BodyTooLarge(True)
    return raw


def too_large_headers(error):
    """Headers for a 413: close the connection when the body was left unread."""
    return [] if error.drained else [("Connection", "close")]
