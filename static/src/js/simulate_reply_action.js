/** @odoo-module **/
/**
 * Test mode's "Simulate reply": the wizard posted the reply's webhook from a thread of
 * its own (see wizard/ofitec_whatsapp_simulate_reply.py). This client action waits for
 * the outcome with short calls (never one long request: the webhook's request needs the
 * server meanwhile), shows it, then opens the action the reply moved.
 */
import { registry } from "@web/core/registry";

const POLL_INTERVAL = 400; // milliseconds
const POLL_LIMIT = 150; // one minute

async function simulateReplyWait(env, action) {
    const { wizard_id: wizardId, title, timeout_message: timeoutMessage } = action.params;
    for (let attempt = 0; attempt < POLL_LIMIT; attempt++) {
        const result = await env.services.orm.call(
            "ofitec.whatsapp.simulate.reply",
            "get_simulation_result",
            [[wizardId]]
        );
        if (result.done) {
            env.services.notification.add(result.message, {
                title: result.title,
                type: result.type,
                sticky: result.type === "danger",
                className: "o_whatsapp_simulate_notification",
            });
            return result.next || { type: "ir.actions.act_window_close" };
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL));
    }
    env.services.notification.add(timeoutMessage, { title, type: "warning", sticky: true });
    return { type: "ir.actions.act_window_close" };
}

registry.category("actions").add("ofitec_whatsapp_simulate_reply_wait", simulateReplyWait);
