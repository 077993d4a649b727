/** @odoo-module **/
/**
 * Next Actions dashboard — REFERENCE STAND-IN of the customer's
 * `ofitec_next_action.dashboard` client action.
 *
 * Built to be extended without XML ids:
 *  - JS: `patch(NextActionDashboard.prototype, "my_module", {...})` from
 *    "@web/core/utils/patch"; override `setup()` and/or `async loadData()`
 *    (call `this._super(...arguments)` / `await this._super()` first).
 *  - Template: `t-inherit="ofitec_next_action.NextActionDashboard"
 *    t-inherit-mode="extension"` with xpaths on the stable classes, in
 *    particular the empty hook points `.o_next_action_dashboard_extra`,
 *    `th.o_next_action_header_extra` and `td.o_next_action_row_extra`
 *    (inside the urgent rows the current row is `urgent`).
 *  - Data lives in `this.state` (useState): `summary` and `urgentActions`,
 *    exactly as returned by `get_dashboard_data()`; `loading` while loading.
 */

import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { _lt } from "@web/core/l10n/translation";
import { deserializeDate, formatDate } from "@web/core/l10n/dates";
import { ControlPanel } from "@web/search/control_panel/control_panel";
import { Component, onWillStart, useState } from "@odoo/owl";

export const NEXT_ACTION_MODEL = "ofitec.next.action";

export class NextActionDashboard extends Component {
    setup() {
        this.orm = useService("orm");
        this.actionService = useService("action");
        this.controlPanelDisplay = { "top-right": false, "bottom-right": false };
        this.state = useState({
            loading: true,
            summary: {
                pending: 0,
                in_progress: 0,
                completed_today: 0,
                critical: 0,
                high: 0,
            },
            urgentActions: [],
            // {field: {key: label}} for priority and category
            selections: { priority: {}, category: {} },
        });
        onWillStart(() => Promise.all([this.loadSelections(), this.loadData()]));
    }

    /** Summary cards, in display order. */
    get summaryCards() {
        return [
            { key: "pending", label: _lt("Pending"), icon: "fa-hourglass-o" },
            { key: "in_progress", label: _lt("In Progress"), icon: "fa-play-circle" },
            { key: "completed_today", label: _lt("Completed Today"), icon: "fa-check-circle" },
            { key: "critical", label: _lt("Critical"), icon: "fa-exclamation-circle" },
            { key: "high", label: _lt("High"), icon: "fa-exclamation-triangle" },
        ];
    }

    /** Loads (or reloads) the dashboard figures into `this.state`. */
    async loadData() {
        this.state.loading = true;
        try {
            const data = await this.orm.call(NEXT_ACTION_MODEL, "get_dashboard_data", []);
            Object.assign(this.state.summary, data.summary);
            this.state.urgentActions = data.urgent_actions;
        } finally {
            this.state.loading = false;
        }
    }

    /** Selection labels (translated by the server) for priority and category. */
    async loadSelections() {
        const fields = await this.orm.call(NEXT_ACTION_MODEL, "fields_get", [
            ["priority", "category"],
        ], { attributes: ["selection"] });
        for (const fieldName of ["priority", "category"]) {
            this.state.selections[fieldName] = Object.fromEntries(
                (fields[fieldName] && fields[fieldName].selection) || []
            );
        }
    }

    priorityLabel(priority) {
        return this.state.selections.priority[priority] || priority;
    }

    categoryLabel(category) {
        return this.state.selections.category[category] || category;
    }

    /** Deadline (ISO string or false) in the user's date format. */
    formatDeadline(deadline) {
        return deadline ? formatDate(deserializeDate(deadline)) : "";
    }

    /** Opens the form of an action (used by the urgent rows). */
    openAction(actionId) {
        return this.actionService.doAction({
            type: "ir.actions.act_window",
            res_model: NEXT_ACTION_MODEL,
            res_id: actionId,
            views: [[false, "form"]],
            target: "current",
        });
    }

    onClickRefresh() {
        return this.loadData();
    }
}

NextActionDashboard.template = "ofitec_next_action.NextActionDashboard";
NextActionDashboard.components = { ControlPanel };

registry.category("actions").add("ofitec_next_action.dashboard", NextActionDashboard);
