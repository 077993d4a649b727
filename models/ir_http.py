"""Odoo calls a route as ``endpoint(**request.params)``: every query and form parameter
by name, beside the controller itself. A parameter named ``self`` then ends the request
in a TypeError, a 500 that anyone can cause before any check of the route (the webhook's
signature included). This addon's routes take no such parameter: it is dropped."""

from odoo import models
from odoo.http import request

OWN_PATHS = ("/webhooks/whatsapp/", "/api/whatsapp/")


class IrHttp(models.AbstractModel):
    _inherit = "ir.http"

    @classmethod
    def _dispatch(cls, endpoint):
        if "self" in request.params and request.httprequest.path.startswith(OWN_PATHS):
            request.params.pop("self")
        return super()._dispatch(endpoint)
