"""Pure Python layer of ``ofitec_whatsapp``.

Nothing in this package imports ``odoo``: it can be imported as
``odoo.addons.ofitec_whatsapp.tools`` by the ORM layer and as
``ofitec_whatsapp.tools`` by the plain pytest suite in ``tools/tests``.
Inside the package, imports are relative only.
"""

from . import (
    actions,
    cloud_api,
    commands,
    crypto,
    errors,
    meta_webhook,
    pgtext,
    phone,
    provider,
    ratelimit,
    render,
    signature,
    templates,
    twilio_client,
    twilio_webhook,
    webhook,
    window,
)

__all__ = [
    "actions",
    "cloud_api",
    "commands",
    "crypto",
    "errors",
    "meta_webhook",
    "pgtext",
    "phone",
    "provider",
    "ratelimit",
    "render",
    "signature",
    "templates",
    "twilio_client",
    "twilio_webhook",
    "webhook",
    "window",
]
