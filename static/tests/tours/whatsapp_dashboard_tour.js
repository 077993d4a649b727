/** @odoo-module **/
/**
 * The WhatsApp parts of the Next Actions dashboard: statistics cards, the sent
 * indicator on an urgent action that got a WhatsApp, the warning on one that could not
 * reach someone, the reminder button, and the WhatsApp tab of the action form.
 * Records come from tests/test_dashboard_tour.py.
 */
import tour from "web_tour.tour";

const NOTIFIED = "Tour notified action";
const UNREACHABLE = "Tour unreachable action";
const PENDING = "Tour pending action";

function checkCards(deliveryLabel) {
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
    // Only test messages: the rate counts them and says so, instead of 0 %.
    const rate = $(".o_whatsapp_stat_delivery_rate .o_whatsapp_stat_value").text().trim();
    if (rate !== "100 %") {
        console.error(`the test delivery rate should be 100 %, got "${rate}"`);
    }
    const label = $(".o_whatsapp_stat_delivery_rate .o_whatsapp_stat_label").text().trim();
    if (label !== deliveryLabel) {
        console.error(`the delivery card should read "${deliveryLabel}", got "${label}"`);
    }
}

function checkIndicators(problemWords) {
    const sent = $(`tr.o_next_action_urgent_row:contains("${NOTIFIED}") .o_whatsapp_sent_indicator`);
    // An icon, not an emoji: it shows without an emoji font, with a tooltip.
    if (!sent.find("i.fa-mobile").length || !sent.attr("title")) {
        console.error("the sent indicator should be an icon with a tooltip");
    }
    const pendingRow = `tr.o_next_action_urgent_row:contains("${PENDING}")`;
    const pending = $(`${pendingRow} .o_whatsapp_pending_indicator`);
    if (!pending.find("i.fa-mobile").length || !pending.attr("title")) {
        console.error("a saved urgent action should show its pending WhatsApp at once");
    }
    if ($(`${pendingRow} .o_whatsapp_sent_indicator`).length) {
        console.error("a pending notification is not shown as sent");
    }
    const row = `tr.o_next_action_urgent_row:contains("${UNREACHABLE}")`;
    const problem = $(`${row} .o_whatsapp_problem_indicator`);
    const title = problem.attr("title") || "";
    if (!title.includes("Tour Sin Número") || !title.includes(problemWords)) {
        console.error(`the warning should name who and why, got "${title}"`);
    }
}

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
            checkCards("Delivery rate (test)");
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
        content: "The action nobody could be reached for carries the warning",
        trigger: `tr.o_next_action_urgent_row:contains("${UNREACHABLE}") .o_whatsapp_problem_indicator i.fa-exclamation-triangle`,
        run() {
            checkIndicators("no usable mobile or phone number");
        },
    },
    {
        content: "The notified urgent action carries the sent indicator",
        trigger: `tr.o_next_action_urgent_row:contains("${NOTIFIED}") .o_whatsapp_sent_indicator`,
        run() {},
    },
    {
        content: "Send a WhatsApp reminder from the dashboard",
        trigger: `tr.o_next_action_urgent_row:contains("${NOTIFIED}") button.o_whatsapp_reminder`,
        run: "click",
    },
    {
        content: "The reminder is confirmed, naming who",
        trigger: ".o_notification.o_whatsapp_notification:contains('WhatsApp reminder queued for Mitchell Admin')",
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
        content: "The chatter tells that the notification was sent (in test mode)",
        trigger: ".o_Chatter .o_Message:contains('WhatsApp notification sent to Mitchell Admin')",
        run() {},
    },
    {
        content: "The form has the reminder button",
        trigger: ".o_form_view .o_form_statusbar button[name=action_send_whatsapp_reminder]",
        run() {},
    },
]);

tour.register("ofitec_whatsapp_dashboard_tour_es", {
    test: true,
    url: "/web",
}, [
    ...tour.stepUtils.goToAppSteps(
        "ofitec_next_action.ofitec_next_action_menu_root",
        "Open the Next Actions app"
    ),
    {
        content: "The figures are labelled in Spanish",
        trigger: ".o_whatsapp_stats .o_whatsapp_stat_delivery_rate .o_whatsapp_stat_value",
        run() {
            checkCards("Tasa de entrega (prueba)");
        },
    },
    {
        content: "The warning says why in Spanish",
        trigger: `tr.o_next_action_urgent_row:contains("${UNREACHABLE}") .o_whatsapp_problem_indicator`,
        run() {
            checkIndicators("no tiene un número de celular o teléfono utilizable");
        },
    },
    {
        content: "Send a reminder: confirmed in Spanish",
        trigger: `tr.o_next_action_urgent_row:contains("${NOTIFIED}") button.o_whatsapp_reminder`,
        run: "click",
    },
    {
        content: "The confirmation is Spanish",
        trigger: ".o_notification:contains('Recordatorio de WhatsApp en cola para Mitchell Admin')",
        run() {},
    },
]);

tour.register("ofitec_whatsapp_config_tour", {
    test: true,
}, [
    {
        content: "Test mode is shown on one ribbon; the webhook URL is not public",
        trigger: ".o_form_view .ribbon:contains('Test Mode')",
        run() {
            const ribbon = $(".o_form_view .ribbon span")[0];
            if (getComputedStyle(ribbon).whiteSpace !== "nowrap") {
                console.error("the TEST MODE ribbon should stay on one line");
            }
            for (const label of $(".oe_button_box .oe_stat_button .o_stat_text")) {
                if (label.scrollWidth > label.clientWidth + 1) {
                    console.error(`stat button label cut: "${label.textContent}"`);
                }
            }
            const warning = $(".o_whatsapp_webhook_url_warning").text();
            if (!warning.includes("Meta cannot call this Webhook URL")) {
                console.error(`expected the webhook URL warning, got "${warning}"`);
            }
        },
    },
    {
        content: "Test the connection in test mode",
        trigger: ".o_form_view .o_form_statusbar button[name=action_test_connection]",
        run: "click",
    },
    {
        content: "It says that Meta was not contacted, and offers the real check",
        trigger: ".o_notification.border-warning:contains('Meta was not contacted')",
        run() {
            if (!$(".o_form_statusbar button[name=action_test_connection_real]").length) {
                console.error("the real check (Check at Meta) should be offered in test mode");
            }
        },
    },
]);
