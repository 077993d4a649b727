/** @odoo-module **/
/**
 * Opens the Next Actions dashboard from its menu, checks the five summary
 * cards, the hook points and an urgent row, then opens that row's form.
 * The records are created by tests/test_next_action.py
 * (TestNextActionDashboardTour) before the tour starts.
 */
import tour from "web_tour.tour";

const CARD_KEYS = ["pending", "in_progress", "completed_today", "critical", "high"];
const TOUR_ACTION_NAME = "Tour urgent action";

tour.register("ofitec_next_action_dashboard_tour", {
    test: true,
    url: "/web",
}, [
    ...tour.stepUtils.goToAppSteps(
        "ofitec_next_action.ofitec_next_action_menu_root",
        "Open the Next Actions app"
    ),
    {
        content: "The dashboard shows the five summary cards with numbers",
        trigger: ".o_next_action_dashboard .o_next_action_summary .o_next_action_card_critical .o_next_action_card_value",
        run() {
            for (const key of CARD_KEYS) {
                const $card = $(`.o_next_action_summary .o_next_action_card_${key}[data-key="${key}"]`);
                if ($card.length !== 1) {
                    console.error(`Summary card "${key}" not found`);
                }
                const value = $card.find(".o_next_action_card_value").text().trim();
                if (!/^\d+$/.test(value)) {
                    console.error(`Summary card "${key}" has no number: "${value}"`);
                }
            }
            const critical = parseInt($(".o_next_action_card_critical .o_next_action_card_value").text());
            if (critical < 1) {
                console.error(`The "critical" card should count the tour's action, got ${critical}`);
            }
            if (!$(".o_next_action_dashboard .o_next_action_dashboard_extra").length) {
                console.error("Hook point .o_next_action_dashboard_extra is missing");
            }
        },
    },
    {
        content: "The urgent action is listed, with its data-id and its hook cell",
        trigger: `.o_next_action_urgent_table tr.o_next_action_urgent_row:contains("${TOUR_ACTION_NAME}")`,
        run() {
            const $row = this.$anchor;
            if (!/^\d+$/.test($row.attr("data-id") || "")) {
                console.error("The urgent row has no numeric data-id");
            }
            if ($row.find("td.o_next_action_row_extra").length !== 1) {
                console.error("Hook point td.o_next_action_row_extra is missing");
            }
            if (!$row.find(".o_next_action_cell_priority:contains('Crítica')").length) {
                console.error("The priority label 'Crítica' is not shown");
            }
            if (!$row.find(".o_next_action_cell_project:contains('Tour project')").length) {
                console.error("The project name is not shown");
            }
            $row.find(".o_next_action_cell_name")[0].click();
        },
    },
    {
        content: "Clicking the row opened the action's form",
        trigger: `.o_form_view .breadcrumb-item.active:contains("${TOUR_ACTION_NAME}")`,
        extra_trigger: ".o_form_view .o_statusbar_status",
        run() {},
    },
]);
