/** @odoo-module **/
/**
 * Test mode's sandbox: WhatsApp › Messages, open the test message of an urgent action,
 * Simulate Reply › COMPLETADO; the reply's webhook goes through the real route and the
 * action opens, completed. Records come from tests/test_simulate_reply_tour.py.
 */
import tour from "web_tour.tour";

tour.register("ofitec_whatsapp_simulate_reply_tour", {
    test: true,
    url: "/web",
}, [
    ...tour.stepUtils.goToAppSteps("ofitec_whatsapp.ofitec_whatsapp_menu_root", "Open WhatsApp"),
    {
        content: "Open the messages",
        trigger: ".o_menu_sections a:contains('Messages'), .o_menu_sections button:contains('Messages')",
        run: "click",
    },
    {
        content: "Open the test message sent to the assignee about the urgent action",
        trigger: ".o_data_row:has(td:contains('Tour: revisar moldaje')):has(td:contains('Andrés Asignado')) td.o_data_cell:first",
        run: "click",
    },
    {
        content: "Simulate a reply",
        trigger: ".o_form_view button.o_whatsapp_simulate_reply",
        run: "click",
    },
    {
        content: "Choose COMPLETADO",
        trigger: ".o_field_widget[name=reply] label:contains('COMPLETADO')",
        run: "click",
    },
    {
        content: "Send the reply",
        trigger: "button.o_whatsapp_simulate_send",
        run: "click",
    },
    {
        content: "The outcome is told",
        trigger: ".o_whatsapp_simulate_notification.border-success:contains('was received and applied')",
        run() {},
    },
    {
        content: "The action opened, completed",
        trigger: ".o_form_view .o_statusbar_status button.o_arrow_button_current[data-value=completed]",
        run() {},
    },
]);
