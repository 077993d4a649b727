"""JSON API for scripts and the dashboard.

Routes are ``type='http'`` on purpose: Odoo's ``type='json'`` answers HTTP 200 with a
JSON-RPC error envelope, while callers of this API get real 4xx statuses with a JSON
``{"error": {"field": ..., "message": ...}}`` body. POST bodies must be
``application/json``, which a cross-site form cannot send, so CSRF tokens are not needed.
"""

import json
import logging

from odoo import _, http
from odoo.exceptions import AccessError, MissingError, UserError, ValidationError
from odoo.http import request

from ..models.ofitec_whatsapp_message_compose import WhatsAppInputError
from ..tools import pgtext
from .body import BodyTooLarge, body_limit, read_body, too_large_headers

_logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_TEXT_CHARS = 4096
SEND_FIELDS = {"partner_id", "phone", "body", "template_code", "next_action_id", "config_id"}


class ApiError(Exception):
    def __init__(self, message, field=None, status=400, headers=()):
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status
        self.headers = list(headers)


def _json(data, status=200, headers=None):
    return request.make_json_response(data, headers=headers, status=status)


def _error(error):
    payload = {"message": error.message}
    if error.field:
        payload["field"] = error.field
    return _json({"error": payload}, status=error.status, headers=error.headers)


def _api(func):
    """Run ``func`` and turn expected failures into JSON 4xx answers (never a 500)."""

    def wrapper(self, *args, **kwargs):
        try:
            if not request.env.user.has_group("ofitec_whatsapp.group_whatsapp_user"):
                raise ApiError(_("You need the WhatsApp User group."), status=403)
            return func(self, *args, **kwargs)
        except ApiError as error:
            request.env.cr.rollback()
            return _error(error)
        except (AccessError, MissingError) as error:
            request.env.cr.rollback()
            return _error(ApiError(str(error.args[0]) if error.args else "", status=403))
        except (UserError, ValidationError) as error:
            request.env.cr.rollback()
            return _error(ApiError(str(error.args[0]) if error.args else "", status=400))

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


def _too_large_error(error):
    return ApiError(_("The body is too large."), status=413, headers=too_large_headers(error))


def _too_large(error):
    return _error(_too_large_error(error))


def _api_route(path, method="POST"):
    """A route of the JSON API: plain HTTP (never ``type='json'``, which answers 200 on
    errors), a logged-in user, no CSRF token (API clients have none), no session
    written back and a body of ``MAX_BODY_BYTES`` at most; errors mapped by ``_api``."""
    route = http.route(
        path,
        type="http",
        auth="user",
        methods=[method],
        csrf=False,
        save_session=False,
        **body_limit(MAX_BODY_BYTES, _too_large),
    )
    return lambda func: route(_api(func))


def _read_json_object():
    httprequest = request.httprequest
    if httprequest.mimetype != "application/json":
        raise ApiError(_("The body must be JSON (Content-Type: application/json)."), status=415)
    try:
        raw = read_body(httprequest, MAX_BODY_BYTES)
    except BodyTooLarge as error:
        raise _too_large_error(error) from None
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise ApiError(_("The body is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise ApiError(_("The body must be a JSON object."))
    return data


def _check_fields(data, allowed):
    """Refuse unknown keys: a misspelt field must not be silently ignored."""
    for key in data:
        if key not in allowed:
            raise ApiError(_("Unknown field %s.", str(key)[:64]), field=str(key)[:64])


def _get_int(data, field, required=False):
    value = data.get(field)
    if value is None:
        if required:
            raise ApiError(_("%s is required.", field), field=field)
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ApiError(_("%s must be a positive integer.", field), field=field)
    return value


def _get_str(data, field, max_len):
    value = data.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ApiError(_("%s must be a non-empty string.", field), field=field)
    if len(value) > max_len:
        raise ApiError(
            _("%(field)s is longer than %(max)s characters.", field=field, max=max_len), field=field
        )
    if pgtext.storable_text(value) != value:  # NUL, or a lone surrogate escaped as \ud800
        raise ApiError(_("%s is not valid Unicode text.", field), field=field)
    return value


def _browse_existing(model, record_id, field):
    record = request.env[model].browse(record_id).exists()
    if not record:
        raise ApiError(
            _("%(field)s %(id)s does not exist.", field=field, id=record_id),
            field=field,
            status=404,
        )
    try:
        record.check_access_rights("read")
        record.check_access_rule("read")
    except AccessError:
        raise ApiError(
            _("%(field)s %(id)s does not exist.", field=field, id=record_id),
            field=field,
            status=404,
        ) from None
    return record


def _optional_record(model, record_id, field):
    """``_browse_existing`` when ``record_id`` is given, else an empty recordset."""
    if not record_id:
        return request.env[model]
    return _browse_existing(model, record_id, field)


def _read_send_request():
    """The arguments of ``_queue_outbound`` read from a send_message body; ApiError
    naming the first field that is wrong."""
    data = _read_json_object()
    _check_fields(data, SEND_FIELDS)
    partner_id = _get_int(data, "partner_id")
    number = _get_str(data, "phone", 64)
    body = _get_str(data, "body", MAX_TEXT_CHARS)
    template_code = _get_str(data, "template_code", 64)
    action_id = _get_int(data, "next_action_id")
    config_id = _get_int(data, "config_id")
    if bool(partner_id) == bool(number):
        raise ApiError(_("Give either partner_id or phone."), field="partner_id")
    if bool(body) == bool(template_code):
        raise ApiError(_("Give either body or template_code."), field="body")
    action = _optional_record("ofitec.next.action", action_id, "next_action_id")
    partner = _optional_record("res.partner", partner_id, "partner_id")
    config = _optional_record("ofitec.whatsapp.config", config_id, "config_id")
    if config and not config.active:
        raise ApiError(_("config_id %s is archived.", config_id), field="config_id")
    return {
        "partner": partner,
        "number": number,
        "body": body,
        "template_code": template_code,
        "action": action,
        "config": config,
    }


class WhatsappApiController(http.Controller):
    @_api_route("/api/whatsapp/send_message")
    def send_message(self, **_kwargs):
        """Queue a message to a partner or a phone: free text or a template code.

        Body: ``{"partner_id": 7 | "phone": "+56 9 …", "body": "…" | "template_code":
        "urgent_action", "next_action_id": 42, "config_id": 1}``.
        Answer 201: ``{"id": …, "state": "queued"}``.
        """
        arguments = _read_send_request()
        try:
            message = request.env["ofitec.whatsapp.message"]._queue_outbound(**arguments)
        except WhatsAppInputError as error:
            raise ApiError(str(error.args[0]), field=error.field) from None
        return _json({"id": message.id, "state": message.state}, status=201)

    @_api_route("/api/whatsapp/test_connection")
    def test_connection(self, **_kwargs):
        """Body ``{"config_id": 1}`` (optional: the company's default number)."""
        data = _read_json_object()
        _check_fields(data, {"config_id"})
        config_id = _get_int(data, "config_id")
        if config_id:
            config = _browse_existing("ofitec.whatsapp.config", config_id, "config_id")
        else:
            config = request.env["ofitec.whatsapp.config"].search(
                [("company_id", "=", request.env.company.id)], limit=1
            )
            if not config:
                raise ApiError(_("No active WhatsApp configuration."), field="config_id")
        result = config._test_connection()
        result["config_id"] = config.id
        return _json(result, status=200)

    @_api_route("/api/whatsapp/get_stats", method="GET")
    def get_stats(self, **_kwargs):
        return _json(request.env["ofitec.whatsapp.message"].get_whatsapp_stats())
