from . import ofitec_next_action
