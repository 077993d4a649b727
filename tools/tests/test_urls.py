import unittest

from ofitec_whatsapp.tools.urls import webhook_url_problem


class TestWebhookUrlProblem(unittest.TestCase):
    def test_cases(self):
        cases = {
            "https://odoo.ofitec.cl/webhooks/whatsapp/1": None,
            "https://203.0.113.9/webhooks/whatsapp/1": "local",  # documentation range
            "https://8.8.8.8/webhooks/whatsapp/1": None,
            "http://odoo.ofitec.cl/webhooks/whatsapp/1": "http",
            "http://localhost:8069/webhooks/whatsapp/1": "local",
            "https://localhost/webhooks/whatsapp/1": "local",
            "http://127.0.0.1:8069/webhooks/whatsapp/1": "local",
            "https://192.168.1.10/webhooks/whatsapp/1": "local",
            "https://10.0.0.5/x": "local",
            "https://172.16.3.4/x": "local",
            "https://[::1]/x": "local",
            "https://odoo.local/x": "local",
            "https://odoo/x": "local",
            "": "invalid",
            None: "invalid",
            "not a url": "invalid",
        }
        for url, expected in cases.items():
            with self.subTest(url=url):
                self.assertEqual(webhook_url_problem(url), expected)


if __name__ == "__main__":
    unittest.main()
