/** @odoo-module **/
/**
 * From the Next Actions dashboard's WhatsApp figures to WhatsApp › Dashboard: the
 * delivery rate's link opens Odoo's graph and pivot on the messages it counts (with the
 * rates and the median time to read), and the failures link groups the failed messages
 * by Meta code and title. Records come from tests/test_dashboard_tour.py
 * (``_create_insight_records``): three real messages read after 2, 4 and 30 minutes, and
 * one failed with Meta's 131026.
 */
import tour from "web_tour.tour";

/** The search facets, each as the list of its values ("Failed"; "Error Code", "Error Title"). */
function facets() {
    return $(".o_searchview_facet")
        .toArray()
        .map((facet) =>
            $(facet)
                .find(".o_facet_value")
                .toArray()
                .map((value) => value.textContent.trim())
                .join(" > ")
        );
}

/** Each of ``expected`` is a facet of its own (filters of one facet are OR'ed). */
function checkFacets(expected) {
    const found = facets();
    for (const facet of expected) {
        if (!found.includes(facet)) {
            console.error(`the facet "${facet}" is missing: ${JSON.stringify(found)}`);
        }
    }
}

function insightSteps(words) {
    return [
        ...tour.stepUtils.goToAppSteps(
            "ofitec_next_action.ofitec_next_action_menu_root",
            "Open the Next Actions app"
        ),
        {
            content: "Open the chart of the delivery rate",
            trigger: ".o_whatsapp_stat_delivery_rate .o_whatsapp_stat_link",
            run: "click",
        },
        {
            content: "Odoo's graph draws the delivery rate of the period's real messages",
            trigger: `.o_graph_view .o_graph_renderer canvas`,
            run() {
                checkFacets([words.sentPeriod, words.real, words.outbound]);
            },
        },
        {
            content: "Switch to the pivot view",
            trigger: ".o_switch_view.o_pivot",
            run: "click",
        },
        {
            content: "The pivot shows the rates and the median time to read",
            trigger: `.o_pivot table th:contains("${words.median}")`,
            run() {
                const headers = $(".o_pivot thead").text();
                for (const word of [words.delivered, words.read]) {
                    if (!headers.includes(word)) {
                        console.error(`the measure "${word}" is missing: "${headers}"`);
                    }
                }
                // The total row: 4 messages; 3 of the 4 reached the phone (the failed one
                // did not), all 3 read; read after 2, 4 and 30 minutes: median 4.
                const total = $(".o_pivot tbody tr:first td.o_pivot_cell_value")
                    .map((i, td) => parseFloat(td.textContent.trim().replace(",", ".")))
                    .get();
                const expected = [4, 75, 100, 4];
                if (JSON.stringify(total) !== JSON.stringify(expected)) {
                    console.error(`pivot total: ${JSON.stringify(total)}, expected ${JSON.stringify(expected)}`);
                }
            },
        },
        {
            content: "Back to the Next Actions dashboard",
            trigger: ".o_control_panel .breadcrumb-item:first a",
            run: "click",
        },
        {
            content: "Open the failures by error",
            trigger: ".o_whatsapp_insight_links .o_whatsapp_failures_link",
            run: "click",
        },
        {
            content: "The failures are grouped by Meta code and title",
            trigger: ".o_graph_view .o_graph_renderer canvas",
            run() {
                checkFacets([words.failed, `${words.errorCode} > ${words.errorTitle}`]);
            },
        },
        {
            content: "Switch to the pivot view",
            trigger: ".o_switch_view.o_pivot",
            run: "click",
        },
        {
            content: "The pivot lists the code and Meta's title",
            trigger: ".o_pivot tbody th:contains('131026')",
            run() {
                if (!$(".o_pivot tbody th:contains('Message undeliverable')").length) {
                    // Expanded on the second group-by (the title) too.
                    console.error("Meta's title is missing under its code");
                }
            },
        },
    ];
}

tour.register(
    "ofitec_whatsapp_insight_tour",
    { test: true, url: "/web" },
    insightSteps({
        sentPeriod: "Sent in the Last 30 Days",
        real: "Real Messages",
        outbound: "Sent by us",
        delivered: "Delivered (%)",
        read: "Read (%)",
        median: "Median Time to Read (min)",
        failed: "Failed",
        errorCode: "Error Code",
        errorTitle: "Error Title",
    })
);

tour.register(
    "ofitec_whatsapp_insight_tour_es",
    { test: true, url: "/web" },
    insightSteps({
        sentPeriod: "Enviados en los últimos 30 días",
        real: "Mensajes reales",
        outbound: "Enviados por nosotros",
        delivered: "Entregados (%)",
        read: "Leídos (%)",
        median: "Mediana del tiempo de lectura (min)",
        failed: "Fallido",
        errorCode: "Código de error",
        errorTitle: "Título del error",
    })
);

// A chart with nothing to draw shows the action's help as text, not as HTML source: the
// action comes from a method (action_open_insight), and its help is marked HTML here.
tour.register("ofitec_whatsapp_insight_empty_tour", { test: true, url: "/web" }, [
    ...tour.stepUtils.goToAppSteps(
        "ofitec_next_action.ofitec_next_action_menu_root",
        "Open the Next Actions app"
    ),
    {
        content: "Open the failures by error: there are none",
        trigger: ".o_whatsapp_insight_links .o_whatsapp_failures_link",
        run: "click",
    },
    {
        content: "The help is rendered, not shown as HTML source",
        trigger: ".o_view_nocontent .o_view_nocontent_smiling_face",
        run() {
            const text = $(".o_view_nocontent").text();
            if (text.includes("<p") || text.includes("o_view_nocontent_smiling_face")) {
                console.error(`the help shows its HTML: ${text}`);
            }
        },
    },
]);
