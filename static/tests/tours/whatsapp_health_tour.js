/** @odoo-module **/
/**
 * An administrator's first look: WhatsApp › Configuration › WhatsApp Numbers shows the
 * health panel and its checklist, then WhatsApp › Dashboard draws Odoo's graph of the
 * messages. Records come from tests/test_health_tour.py.
 */
import tour from "web_tour.tour";

tour.register("ofitec_whatsapp_health_tour", {
    test: true,
    url: "/web",
}, [
    ...tour.stepUtils.goToAppSteps("ofitec_whatsapp.ofitec_whatsapp_menu_root", "Open WhatsApp"),
    {
        content: "Open the Configuration menu",
        trigger: ".o_menu_sections button:contains('Configuration'), .o_menu_sections a:contains('Configuration')",
        run: "click",
    },
    {
        content: "Open the numbers",
        trigger: ".dropdown-item:contains('WhatsApp Numbers')",
        run: "click",
    },
    {
        content: "Open the tour's number",
        trigger: ".o_data_row td:contains('Health tour number')",
        run: "click",
    },
    {
        content: "The health panel shows the token, the last error and the template counts",
        trigger: ".o_whatsapp_health .o_field_widget[name=token_status]:contains('Valid')",
        run() {
            const code = $(".o_whatsapp_health .o_field_widget[name=last_error_code]").text().trim();
            if (code !== "131026") {
                console.error(`last send error code: "${code}"`);
            }
            const counts = $(".o_whatsapp_template_counts").text().replace(/\s+/g, " ").trim();
            if (!/^1 approved, \d+ pending, 1 rejected, 1 not submitted$/.test(counts)) {
                console.error(`template counts: "${counts}"`);
            }
            if (!$(".o_whatsapp_health .o_field_widget[name=webhook_url] button").length) {
                console.error("the Webhook URL has no copy button");
            }
        },
    },
    {
        content: "The checklist ticked the tested connection, not the rest",
        trigger: ".o_whatsapp_health .o_field_widget[name=check_connection] input:checked",
        run() {
            for (const name of ["check_webhook_verified", "check_templates_approved", "check_first_webhook"]) {
                if ($(`.o_whatsapp_health .o_field_widget[name=${name}] input:checked`).length) {
                    console.error(`${name} should not be ticked`);
                }
            }
        },
    },
    {
        content: "Open the Dashboard",
        trigger: ".o_menu_sections a:contains('Dashboard'), .o_menu_sections button:contains('Dashboard')",
        run: "click",
    },
    {
        content: "Odoo's graph view draws the messages",
        trigger: ".o_graph_view .o_graph_renderer canvas",
        run() {},
    },
    {
        content: "Switch to the pivot view",
        trigger: ".o_switch_view.o_pivot",
        run: "click",
    },
    {
        content: "The pivot view shows the delivery rate, the read rate and the median",
        trigger: ".o_pivot table th:contains('Median Time to Read (min)')",
        run() {},
    },
]);
