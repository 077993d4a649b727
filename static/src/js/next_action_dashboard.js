/** @odoo-module **/
/**
 * WhatsApp on the Next Actions dashboard: statistics, a 📱 indicator on each urgent
 * action that got a WhatsApp message, a reminder button, and a live refresh when a
 * reply or a delivery status arrives (bus notification "ofitec_whatsapp/updated").
 *
 * The live refresh is coalesced: a burst of notifications (1,000 statuses arriving one
 * webhook at a time) refreshes an open dashboard at most once per REFRESH_INTERVAL_MS,
 * and the last refresh comes after the last notification, so nothing is missed.
 */

import { browser } from "@web/core/browser/browser";
import { patch } from "@web/core/utils/patch";
import { useService } from "@web/core/utils/hooks";
import { _lt } from "@web/core/l10n/translation";
import { markup, onWillStart, onWillUnmount, useState } from "@odoo/owl";
import { NextActionDashboard } from "@ofitec_next_action/js/dashboard";

export const REFRESH_INTERVAL_MS = 1000;

patch(NextActionDashboard.prototype, "ofitec_whatsapp.NextActionDashboard", {
    setup() {
        this._super(...arguments);
        this.userService = useService("user");
        this.notificationService = useService("notification");
        this.busService = useService("bus_service");
        this.whatsapp = useState({
            ready: false,
            isUser: false,
            stats: null,
            sent: {},
            pending: {},
            problem: {},
        });
        onWillStart(async () => {
            this.whatsapp.isUser = await this.userService.hasGroup(
                "ofitec_whatsapp.group_whatsapp_user"
            );
            this.whatsapp.ready = true;
            await this.loadWhatsappData();
        });
        this._whatsappRefresh = { last: 0, timer: null };
        this._onWhatsappNotification = ({ detail: notifications }) => {
            if (notifications.some((n) => n.type === "ofitec_whatsapp/updated")) {
                this.scheduleWhatsappRefresh();
            }
        };
        this.busService.addEventListener("notification", this._onWhatsappNotification);
        this.busService.start();
        onWillUnmount(() => {
            this.busService.removeEventListener("notification", this._onWhatsappNotification);
            browser.clearTimeout(this._whatsappRefresh.timer);
        });
    },

    /**
     * Refresh now when the last refresh is a second old, else once that second is
     * over; notifications arriving while a refresh is pending join it.
     */
    scheduleWhatsappRefresh() {
        const refresh = this._whatsappRefresh;
        if (refresh.timer) {
            return;
        }
        const wait = Math.max(0, refresh.last + REFRESH_INTERVAL_MS - Date.now());
        refresh.timer = browser.setTimeout(() => {
            refresh.timer = null;
            refresh.last = Date.now();
            this.loadData();
        }, wait);
    },

    async loadData() {
        await this._super(...arguments);
        if (this.whatsapp && this.whatsapp.ready) {
            await this.loadWhatsappData();
        }
    },

    /** WhatsApp figures and, for the urgent rows, whether a WhatsApp went out. */
    async loadWhatsappData() {
        const ids = this.state.urgentActions.map((action) => action.id);
        if (ids.length) {
            const records = await this.orm.read("ofitec.next.action", ids, [
                "whatsapp_sent",
                "whatsapp_problem",
                "whatsapp_notify_state",
            ]);
            this.whatsapp.sent = Object.fromEntries(records.map((r) => [r.id, r.whatsapp_sent]));
            // Saved urgent, not sent yet: the notification is being prepared, or its
            // messages wait in the queue (not when they failed: the problem shows that).
            this.whatsapp.pending = Object.fromEntries(
                records.map((r) => [
                    r.id,
                    r.whatsapp_notify_state === "pending" ||
                        (r.whatsapp_notify_state === "queued" && !r.whatsapp_problem),
                ])
            );
            this.whatsapp.problem = Object.fromEntries(
                records.map((r) => [r.id, r.whatsapp_problem || ""])
            );
        } else {
            this.whatsapp.sent = {};
            this.whatsapp.pending = {};
            this.whatsapp.problem = {};
        }
        if (this.whatsapp.isUser) {
            this.whatsapp.stats = await this.orm.call(
                "ofitec.whatsapp.message",
                "get_whatsapp_stats",
                []
            );
        }
    },

    get whatsappCards() {
        return [
            { key: "sent_today", label: _lt("WhatsApp sent today"), icon: "fa-paper-plane" },
            { key: "received_today", label: _lt("WhatsApp received today"), icon: "fa-inbox" },
            {
                key: "delivery_rate",
                // Test messages never reach a phone: the figure counts them, and says so.
                label:
                    this.whatsapp.stats && this.whatsapp.stats.delivery_test
                        ? _lt("Delivery rate (test)")
                        : _lt("Delivery rate"),
                icon: "fa-check",
                suffix: " %",
            },
            { key: "replies_processed", label: _lt("Replies processed today"), icon: "fa-reply" },
        ];
    },

    async onClickWhatsappReminder(actionId) {
        const result = await this.orm.call("ofitec.next.action", "action_send_whatsapp_reminder", [
            [actionId],
        ]);
        const params = (result && result.params) || {};
        this.notificationService.add(params.message || _lt("WhatsApp reminder queued."), {
            title: params.title,
            type: params.type || "success",
            sticky: params.sticky || false,
            className: "o_whatsapp_notification",
        });
        await this.loadData();
    },

    openWhatsappMessages() {
        return this.actionService.doAction("ofitec_whatsapp.ofitec_whatsapp_message_action");
    },

    /** WhatsApp › Dashboard (graph and pivot) filtered on what the figure ``key`` counts. */
    async openWhatsappInsight(key) {
        const stats = this.whatsapp.stats || {};
        const action = await this.orm.call("ofitec.whatsapp.message", "action_open_insight", [
            key,
            Boolean(stats.delivery_test),
        ]);
        if (action.help) {
            // An action returned by a method is plain data: its help is HTML that the
            // action service marks as such only for actions it loads itself.
            action.help = markup(action.help);
        }
        return this.actionService.doAction(action);
    },
});
