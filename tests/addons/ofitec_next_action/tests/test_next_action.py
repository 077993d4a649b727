from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import TransactionCase, new_test_user, tagged


@tagged("post_install", "-at_install")
class TestNextAction(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Action = cls.env["ofitec.next.action"]
        cls.today = fields.Date.context_today(cls.Action)
        cls.project = cls.env["project.project"].create({"name": "Stand-in project"})

    def _create(self, **vals):
        values = {
            "name": "Action",
            "description": "Details",
            "action_type": "planned",
            "category": "operational",
        }
        values.update(vals)
        return self.Action.create(values)

    # ------------------------------------------------------------------
    # Contract
    # ------------------------------------------------------------------

    def test_model_contract(self):
        self.assertEqual(self.Action._order, "priority desc, create_date desc")
        self.assertEqual(
            self.Action._description, "Recomendaciones Inteligentes de Próximas Acciones"
        )
        fields_def = self.Action._fields
        self.assertEqual(
            [key for key, _label in fields_def["priority"].selection], ["1", "2", "3", "4"]
        )
        self.assertEqual(
            dict(fields_def["priority"].selection),
            {"1": "Crítica", "2": "Alta", "3": "Media", "4": "Baja"},
        )
        self.assertEqual(
            dict(fields_def["status"].selection),
            {
                "pending": "Pendiente",
                "in_progress": "En progreso",
                "completed": "Completada",
                "cancelled": "Cancelada",
            },
        )
        self.assertEqual(
            [key for key, _label in fields_def["action_type"].selection],
            ["immediate", "urgent", "planned", "preventive"],
        )
        self.assertEqual(
            [key for key, _label in fields_def["category"].selection],
            ["risk", "financial", "operational", "quality", "communication", "planning"],
        )
        self.assertTrue(fields_def["status"].tracking)
        self.assertEqual(fields_def["deadline"].type, "date")
        self.assertEqual(fields_def["completed_date"].type, "date")
        self.assertEqual(fields_def["project_id"].comodel_name, "project.project")
        for name in (
            "confidence_score",
            "impact_score",
            "urgency_score",
            "recommended_actions",
            "expected_benefits",
            "required_resources",
            "created_by_ai",
        ):
            self.assertIn(name, fields_def)

    def test_defaults(self):
        action = self._create()
        self.assertEqual(action.priority, "3")
        self.assertIsInstance(action.priority, str)
        self.assertEqual(action.status, "pending")
        self.assertEqual(action.suggested_date, self.today)
        self.assertEqual(action.user_id, self.env.user)
        self.assertEqual(action.company_id, self.env.company)
        self.assertFalse(action.completed_date)

    # ------------------------------------------------------------------
    # Transitions
    # ------------------------------------------------------------------

    def test_transitions(self):
        action = self._create()
        self.assertTrue(action.action_start_progress())
        self.assertEqual(action.status, "in_progress")
        self.assertFalse(action.completed_date)

        self.assertTrue(action.action_mark_completed())
        self.assertEqual(action.status, "completed")
        self.assertEqual(action.completed_date, self.today)

        other = self._create()
        self.assertTrue(other.action_cancel())
        self.assertEqual(other.status, "cancelled")
        self.assertFalse(other.completed_date)

    def test_transitions_on_several_records(self):
        actions = self._create() | self._create(priority="1")
        actions.action_mark_completed()
        self.assertEqual(set(actions.mapped("status")), {"completed"})
        self.assertEqual(set(actions.mapped("completed_date")), {self.today})

    # ------------------------------------------------------------------
    # Dashboard
    # ------------------------------------------------------------------

    def test_dashboard_counts(self):
        before = self.Action.get_dashboard_data()["summary"]
        self.assertEqual(
            set(before), {"pending", "in_progress", "completed_today", "critical", "high"}
        )
        self._create(priority="1")  # pending, critical
        self._create(priority="2").action_start_progress()  # in progress, high
        self._create(priority="2")  # pending, high
        self._create(priority="1").action_mark_completed()  # completed today, not critical
        self._create(priority="1").action_cancel()  # cancelled: counted nowhere
        self._create(priority="4")  # pending
        old = self._create(priority="3", status="completed")
        old.completed_date = fields.Date.subtract(self.today, days=1)  # not today

        after = self.Action.get_dashboard_data()["summary"]
        delta = {key: after[key] - before[key] for key in before}
        self.assertEqual(
            delta,
            {"pending": 3, "in_progress": 1, "completed_today": 1, "critical": 1, "high": 2},
        )

    def test_dashboard_urgent_actions(self):
        deadline = fields.Date.add(self.today, days=2)
        critical = self._create(
            name="Critical one",
            priority="1",
            category="risk",
            project_id=self.project.id,
            deadline=deadline,
        )
        high = self._create(name="High one", priority="2", category="financial")
        high.action_start_progress()
        medium = self._create(priority="3")
        done = self._create(priority="1")
        done.action_mark_completed()
        cancelled = self._create(priority="2")
        cancelled.action_cancel()

        urgent = self.Action.get_dashboard_data()["urgent_actions"]
        by_id = {row["id"]: row for row in urgent}
        self.assertIn(critical.id, by_id)
        self.assertIn(high.id, by_id)
        for record in medium | done | cancelled:
            self.assertNotIn(record.id, by_id)
        self.assertTrue(all(row["priority"] in ("1", "2") for row in urgent))
        # Critical actions first.
        priorities = [row["priority"] for row in urgent]
        self.assertEqual(priorities, sorted(priorities))

        self.assertEqual(
            by_id[critical.id],
            {
                "id": critical.id,
                "name": "Critical one",
                "priority": "1",
                "category": "risk",
                "deadline": fields.Date.to_string(deadline),
                "project": "Stand-in project",
            },
        )
        self.assertIsInstance(by_id[critical.id]["deadline"], str)
        self.assertIs(by_id[high.id]["deadline"], False)
        self.assertIs(by_id[high.id]["project"], False)

    def test_dashboard_respects_record_rules(self):
        company_a = self.env.company
        company_b = self.env["res.company"].create({"name": "Other company"})
        user_a = new_test_user(
            self.env,
            login="na_user_a",
            groups="base.group_user",
            company_id=company_a.id,
            company_ids=[(6, 0, company_a.ids)],
        )
        actions_a = self.Action.with_user(user_a)
        before = actions_a.get_dashboard_data()

        other = self._create(priority="1", company_id=company_b.id)
        after_b = actions_a.get_dashboard_data()
        self.assertEqual(after_b["summary"], before["summary"])
        self.assertNotIn(other.id, [row["id"] for row in after_b["urgent_actions"]])
        # The superuser environment still sees it.
        self.assertIn(
            other.id, [row["id"] for row in self.Action.get_dashboard_data()["urgent_actions"]]
        )

        mine = self._create(priority="1", company_id=company_a.id)
        shared = self._create(priority="2", company_id=False)
        after_a = actions_a.get_dashboard_data()
        self.assertEqual(after_a["summary"]["critical"], before["summary"]["critical"] + 1)
        self.assertEqual(after_a["summary"]["high"], before["summary"]["high"] + 1)
        self.assertEqual(after_a["summary"]["pending"], before["summary"]["pending"] + 2)
        ids = [row["id"] for row in after_a["urgent_actions"]]
        self.assertIn(mine.id, ids)
        self.assertIn(shared.id, ids)

    def test_dashboard_private_project_name(self):
        """A visible action on a project the user cannot read still shows its name."""
        user = new_test_user(self.env, login="na_user_private", groups="base.group_user")
        private = self.env["project.project"].create(
            {"name": "Private project", "privacy_visibility": "followers"}
        )
        with self.assertRaises(AccessError):
            private.with_user(user).read(["name"])
        action = self._create(priority="1", project_id=private.id, user_id=user.id)
        urgent = self.Action.with_user(user).get_dashboard_data()["urgent_actions"]
        row = next(row for row in urgent if row["id"] == action.id)
        self.assertEqual(row["project"], "Private project")
