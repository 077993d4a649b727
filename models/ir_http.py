"""Two guards of this addon's routes, before Odoo hands a request to them.

* Odoo calls a route as ``endpoint(**request.params)``: every query and form parameter
  by name, beside the controller itself. A parameter named ``self`` then ends the
  request in a TypeError, a 500 that anyone can cause before any check of the route
  (the webhook's signature included). This addon's routes take no such parameter: it
  is dropped.
* To build those parameters, Odoo's ``HttpDispatcher`` parses a form body whole (what
  Twilio posts), whatever its size, before the route can refuse it. A route that
  declares its limit (``controllers.body.body_limit``) has a body declared larger
  refused here, in ``_pre_dispatch``, the last step before that parsing: nothing is
  read but the small bodies that are drained, and the client gets the route's own 413.
"""

import werkzeug.exceptions

from odoo import models
from odoo.http import request

from ..controllers.body import BodyTooLarge, check_declared_length

OWN_PATHS = ("/webhooks/whatsapp/", "/api/whatsapp/")


class IrHttp(models.AbstractModel):
    _inherit = "ir.http"

    @classmethod
    def _pre_dispatch(cls, rule, args):
        res = super()._pre_dispatch(rule, args)
        cls._refuse_declared_too_large(rule.endpoint.routing.get("body_limit"))
        return res

    @classmethod
    def _refuse_declared_too_large(cls, body_limit):
        """End the request with the route's 413 when its body is declared over the
        route's ``body_limit`` (``(bytes, answer)``). The answer goes out as Odoo's own
        CORS preflight answer does: a response carried by werkzeug's ``abort``, sent as
        it is (``odoo.http.Application.__call__``), after a rollback of the request's
        transaction."""
        if not body_limit:
            return
        limit, too_large = body_limit
        try:
            check_declared_length(request.httprequest, limit)
        except BodyTooLarge as error:
            werkzeug.exceptions.abort(too_large(error))

    @classmethod
    def _dispatch(cls, endpoint):
        if "self" in request.params and request.httprequest.path.startswith(OWN_PATHS):
            request.params.pop("self")
        return super()._dispatch(endpoint)
