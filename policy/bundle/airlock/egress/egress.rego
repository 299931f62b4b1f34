# Network egress per execution: which hosts the code may reach through the gateway's egress
# proxy. A request names the hosts it needs (`egress: ["api.example.com:443"]`); each must
# match a rule of the caller (default, its groups, its tenant); the granted list becomes the
# execution's obligation, and the proxy admits nothing else.
package airlock.egress

import data.airlock.scopes

# Rules: "host:port", "host" (any port), "*.example.com:443" (one label), "10.1.2.3:443".
allowed_rules contains r if {
	some r in data.airlock.egress_rules["default"]
}

allowed_rules contains r if {
	some g in input.principal.groups
	some r in data.airlock.egress_rules.by_group[g]
}

allowed_rules contains r if {
	some r in data.airlock.egress_rules.by_tenant[input.principal.tenant]
}

# "host" alone means port 443.
normalized(h) := h if {
	contains(h, ":")
} else := concat(":", [h, "443"])

pattern(rule) := rule if {
	contains(rule, ":")
} else := concat(":", [rule, "*"])

permitted(req) if {
	some rule in allowed_rules
	glob.match(pattern(rule), ["."], normalized(req))
}

restricted_session if scopes.restricted_session

allowed_hint := concat(", ", sort([r | some r in allowed_rules])) if {
	count(allowed_rules) > 0
} else := "none: this deployment grants you no network egress"

violations contains v if {
	some host in input.request.egress
	not restricted_session
	not permitted(host)
	v := {
		"code": "egress_not_allowed",
		"message": sprintf("network egress to %q is not allowed for you", [host]),
		"hint": sprintf("hosts you may ask for: %s", [allowed_hint]),
	}
}

violations contains v if {
	count(input.request.egress) > 0
	restricted_session
	v := {
		"code": "egress_not_allowed_restricted_data",
		"message": "this session holds data labelled for no network egress (restricted), so it has no network egress",
		"hint": "work in a session without restricted files, or without the network",
	}
}

# The obligation: exactly the requested hosts that are permitted.
grants := [normalized(h) | some h in input.request.egress; permitted(h)]

methods := object.get(data.airlock.egress_rules, "plain_http_methods", ["GET", "HEAD"])
