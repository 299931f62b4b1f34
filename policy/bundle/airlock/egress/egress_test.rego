package airlock.egress_test

import data.airlock.egress

rules := {"default": [], "by_group": {"analysts": ["api.example.com:443", "*.data.example.com:443", "files.example.org"]}, "by_tenant": {"acme": ["10.1.2.3:8443"]}, "plain_http_methods": ["GET"]}

inp(hosts, groups) := {"principal": {"groups": groups, "tenant": "acme"}, "request": {"egress": hosts}}

codes(i) := {v.code | some v in egress.violations with input as i with data.airlock.egress_rules as rules}

test_group_rule_allows if {
	codes(inp(["api.example.com:443", "api.example.com"], ["analysts"])) == set()
}

test_wildcard_matches_one_label if {
	codes(inp(["eu.data.example.com:443"], ["analysts"])) == set()
	codes(inp(["a.b.data.example.com:443"], ["analysts"])) == {"egress_not_allowed"}
}

test_host_rule_without_port_allows_any_port if {
	codes(inp(["files.example.org:8080"], ["analysts"])) == set()
}

test_other_groups_get_nothing if {
	some v in egress.violations with input as inp(["api.example.com:443"], ["interns"]) with data.airlock.egress_rules as rules
	v.code == "egress_not_allowed"
	contains(v.hint, "10.1.2.3:8443")
}

test_port_must_match if {
	codes(inp(["api.example.com:80"], ["analysts"])) == {"egress_not_allowed"}
}

test_tenant_rule if {
	codes(inp(["10.1.2.3:8443"], [])) == set()
}

test_restricted_session_has_no_egress if {
	i := object.union(inp(["api.example.com:443"], ["analysts"]), {"session": {"labels": ["restricted"]}})
	codes(i) == {"egress_not_allowed_restricted_data"}
}

test_grants_are_the_permitted_requested_hosts if {
	g := egress.grants with input as inp(["api.example.com", "evil.com:443"], ["analysts"]) with data.airlock.egress_rules as rules
	g == ["api.example.com:443"]
}

test_default_bundle_grants_nothing if {
	codes(inp(["example.com:443"], ["analysts"])) == {"egress_not_allowed"} with data.airlock.egress_rules as data.airlock.egress_rules
}
