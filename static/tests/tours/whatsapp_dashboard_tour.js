/** @odoo-module **/
/**
 * The WhatsApp parts of the Next Actions dashboard: statistics cards, the 📱
 * indicator on an urgent action that got a WhatsApp, the reminder button, and the
 * WhatsApp tab of the action form. Records come from tests/test_dashboard_tour.py.
 */
import tour from "web_tour.tour";

const NOTIFIED = "Tour notified action";

tour.register("ofitec_whatsapp_dashboard_tour", {
    test: true,
    url: "/web",
}, [
    ...tour.stepUtils.goToAppSteps(
        "ofitec_next_action.ofitec_next_action_menu_root",
        "Open the Next Actions app"
    ),
    {
        content: "WhatsApp statistics are shown with numbers",
        trigger: ".o_whatsapp_stats .o_whatsapp_stat_sent_today .o_whatsapp_stat_value",
        run() {
            for (const key of ["sent_today", "received_today", "delivery_rate", "replies_processed"]) {
                const value = $(`.o_whatsapp_stat_${key} .o_whatsapp_stat_value`).text().trim();
                if (!/^\d+(\.\d+)?( %)?$/.test(value)) {
                    console.error(`WhatsApp card ${key} shows "${value}"`);
                }
            }
            const sent = parseInt($(".o_whatsapp_stat_sent_today .o_whatsapp_stat_value").text());
            if (sent < 1) {
                console.error(`sent_today should count the tour's message, got ${sent}`);
            }
        },
    },
    {
        content: "A burst of 50 live notifications refreshes the statistics at most once a second",
        trigger: ".o_whatsapp_stats .o_whatsapp_stat_sent_today .o_whatsapp_stat_value",
        run() {
            const bus = odoo.__WOWL_DEBUG__.root.env.services.bus_service;
            const calls = [];
            const open = XMLHttpRequest.prototype.open;
            XMLHttpRequest.prototype.open = function (method, url) {
                if (String(url).includes("get_whatsapp_stats")) {
                    calls.push(Date.now());
                }
                return open.apply(this, arguments);
            };
            let sent = 0;
            const start = Date.now();
            const burst = setInterval(() => {
                bus.trigger("notification", [{ type: "ofitec_whatsapp/updated", payload: {} }]);
                if (++sent < 50) {
                    return;
                }
                clearInterval(burst);
                // The trailing refresh comes at most a second after the last one.
                setTimeout(() => {
                    XMLHttpRequest.prototype.open = open;
                    // At most one refresh per started second (not 50).
                    const allowed = Math.floor((Date.now() - start) / 1000) + 1;
                    if (!calls.length || calls.length > allowed) {
                        console.error(`${calls.length} refreshes in ${Date.now() - start} ms`);
                    }
                    document.body.classList.add("o_whatsapp_burst_done");
                }, 2500);
            }, 20);
        },
    },
    {
        content: "The burst is over",
        trigger: "body.o_whatsapp_burst_done",
        run() {},
    },
    {
        content: "The notified urgent action carries the 📱 indicator",
        trigger: `tr.o_next_action_urgent_row:contains("${NOTIFIED}") .o_whatsapp_sent_indicator`,
        run() {},
    },
    {
        content: "Send a WhatsApp reminder from the dashboard",
        trigger: `tr.o_next_action_urgent_row:contains("${NOTIFIED}") button.o_whatsapp_reminder`,
        run: "click",
    },
    {
        content: "The reminder is confirmed",
        trigger: ".o_notification:contains('WhatsApp reminder queued')",
        run() {},
    },
    {
        content: "Open the action",
        trigger: `tr.o_next_action_urgent_row:contains("${NOTIFIED}") .o_next_action_cell_name`,
        run: "click",
    },
    {
        content: "Open the WhatsApp tab of the form",
        trigger: ".o_form_view .o_notebook a.nav-link:contains('WhatsApp')",
        run: "click",
    },
    {
        content: "The tab lists the notification and the queued reminder",
        trigger: ".o_form_view .o_field_widget[name=whatsapp_message_ids] tr.o_data_row:nth-child(2)",
        run() {
            const rows = $(".o_field_widget[name=whatsapp_message_ids] tr.o_data_row");
            if (rows.length < 2) {
                console.error(`expected 2 WhatsApp messages, got ${rows.length}`);
            }
        },
    },
    {
        content: "The form has the reminder button",
        trigger: ".o_form_view .o_form_statusbar button[name=action_send_whatsapp_reminder]",
        run() {},
    },
]);
