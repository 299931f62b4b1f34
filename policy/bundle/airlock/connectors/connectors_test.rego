package airlock.connectors_test

import data.airlock.connectors

grants := {"warehouse": {"groups": {
	"analysts": {"read": ["sales.*"], "write": [], "role": "analyst_read", "row_limit": 100},
	"loaders": {"read": ["sales.*"], "write": ["sales.staging"], "role": "loader", "row_limit": 10},
}}}

req(groups, statements) := {
	"principal": {"groups": groups},
	"request": {"language": "sql", "connector": "warehouse"},
	"analysis": {"sql": {"dialect": "postgres", "statements": statements}},
}

read(tables) := {"kind": "select", "writes": false, "reads": tables, "writes_to": []}

codes(inp) := c if {
	c := {v.code | some v in connectors.violations} with input as inp
		with data.airlock.connector_grants as grants
}

test_analyst_reads_sales if {
	codes(req(["analysts"], [read(["sales.orders", "sales.customers"])])) == set()
	g := connectors.grant with input as req(["analysts"], [read(["sales.orders"])])
		with data.airlock.connector_grants as grants
	g == {"name": "warehouse", "role": "analyst_read", "row_limit": 100, "read_only": true, "governed": {}}
}

test_other_schema_denied_naming_the_table if {
	vs := connectors.violations with input as req(["analysts"], [read(["sales.orders", "hr.salaries"])])
		with data.airlock.connector_grants as grants
	some v in vs
	v.code == "sql_table_not_allowed"
	contains(v.message, "hr.salaries")
	contains(v.hint, "sales.*")
}

test_no_grant_for_group if {
	codes(req(["interns"], [read(["sales.orders"])])) == {"connector_not_allowed"}
}

test_unknown_connector if {
	inp := object.union(req(["analysts"], [read(["sales.orders"])]), {"request": {"language": "sql", "connector": "nope"}})
	codes(inp) == {"connector_not_allowed"}
}

test_write_denied_by_default if {
	w := {"kind": "delete", "writes": true, "reads": ["sales.orders"], "writes_to": ["sales.orders"]}
	codes(req(["analysts"], [w])) == {"sql_write_not_allowed"}
	# A write with no known target (a data-modifying CTE, SELECT INTO) is refused too.
	hidden := {"kind": "select", "writes": true, "reads": ["sales.orders"], "writes_to": []}
	codes(req(["analysts"], [hidden])) == {"sql_write_not_allowed"}
}

test_granted_write_allowed_and_not_read_only if {
	w := {"kind": "insert", "writes": true, "reads": ["sales.staging"], "writes_to": ["sales.staging"]}
	codes(req(["loaders"], [w])) == set()
	g := connectors.grant with input as req(["loaders"], [w]) with data.airlock.connector_grants as grants
	g.read_only == false
}

test_batches_and_garbage_denied if {
	codes(req(["analysts"], [read(["sales.a"]), read(["sales.b"])])) == {"sql_multiple_statements"}
	inp := {"principal": {"groups": ["analysts"]}, "request": {"language": "sql", "connector": "warehouse"}, "analysis": {"sql": {"statements": [], "error": "Expected SELECT"}}}
	codes(inp) == {"sql_unparseable"}
}

test_connector_needs_sql if {
	inp := object.union(req(["analysts"], [read(["sales.orders"])]), {"request": {"language": "python", "connector": "warehouse"}})
	"connector_language" in codes(inp)
}

test_analyser_refusals_become_violations_with_their_codes if {
	inp := object.union(req(["analysts"], [read(["sales.orders"])]), {"analysis": {"sql": {
		"dialect": "postgres",
		"statements": [read(["sales.orders"])],
		"refusals": [{"code": "sql_function_not_allowed", "message": "the function pg_read_file() is not on the allowlist", "hint": "use plain functions"}],
	}}})
	vs := connectors.violations with input as inp with data.airlock.connector_grants as grants
	some v in vs
	v.code == "sql_function_not_allowed"
	v.hint == "use plain functions"
}

test_labelled_data_never_reaches_an_execution_with_egress if {
	base := req(["analysts"], [read(["sales.orders"])])
	inp := object.union(base, {"request": {"language": "sql", "connector": "warehouse", "connector_labels": ["restricted"], "running_egress": ["pypi.org:443"]}})
	"data_scope_egress" in codes(inp)
	# Without egress in the running execution, or for data without the label: allowed.
	no_egress := object.union(base, {"request": {"language": "sql", "connector": "warehouse", "connector_labels": ["restricted"]}})
	codes(no_egress) == set()
	other := object.union(base, {"request": {"language": "sql", "connector": "warehouse", "connector_labels": ["internal"], "running_egress": ["pypi.org:443"]}})
	codes(other) == set()
}

governed_grants := {"warehouse": {
	"groups": grants.warehouse.groups,
	"tables": {"Sales.Contacts": {
		"masks": {"email": {"kind": "redact"}, "card": {"kind": "keep_last", "keep": 4}},
		"row_filter": [{"column": "tenant", "in_principal": "tenant"}, {"column": "region", "in": ["north", "south"]}],
		"exempt_groups": ["data-stewards"],
	}},
}}

governed_for(principal) := g if {
	inp := object.union(req(["analysts"], [read(["sales.contacts"])]), {"principal": principal})
	g := connectors.grant.governed with input as inp with data.airlock.connector_grants as governed_grants
}

test_governed_tables_carry_masks_and_the_principals_own_filter_values if {
	g := governed_for({"groups": ["analysts"], "tenant": "acme"})
	g["sales.contacts"].masks.card == {"kind": "keep_last", "keep": 4}
	g["sales.contacts"].row_filter == [{"column": "tenant", "in": ["acme"]}, {"column": "region", "in": ["north", "south"]}]
}

test_a_principal_without_the_attribute_sees_no_row if {
	g := governed_for({"groups": ["analysts"]})
	g["sales.contacts"].row_filter[0] == {"column": "tenant", "in": []}
}

test_list_attributes_filter_by_any_of_their_values if {
	inp := object.union(req(["analysts"], [read(["sales.contacts"])]), {"principal": {"groups": ["analysts", "emea"]}})
	tables := {"sales.contacts": {"row_filter": [{"column": "team", "in_principal": "groups"}]}}
	g := connectors.grant.governed with input as inp
		with data.airlock.connector_grants as {"warehouse": {"groups": grants.warehouse.groups, "tables": tables}}
	g["sales.contacts"].row_filter == [{"column": "team", "in": ["analysts", "emea"]}]
}

test_exempt_groups_read_the_table_as_it_is if {
	g := governed_for({"groups": ["analysts", "data-stewards"], "tenant": "acme"})
	g == {}
}

test_writes_to_a_governed_table_are_denied if {
	w := {"kind": "update", "writes": true, "reads": ["sales.contacts"], "writes_to": ["sales.contacts"]}
	inp := req(["loaders"], [w])
	vs := {v.code | some v in connectors.violations} with input as inp with data.airlock.connector_grants as governed_grants
	"sql_write_governed" in vs
}

hr_query := {
	"principal": {"groups": ["analysts"]},
	"request": {"connector": "warehouse", "language": "sql"},
	"analysis": {"sql": {"statements": [{"kind": "select", "reads": ["hr.salaries"], "writes": false, "writes_to": []}]}},
}

test_a_table_outside_grants_is_denied_without_a_review_grant if {
	d := data.airlock.decision.decision with input as object.union(hr_query, {"action": "execution.run"})
	d.result == "deny"
}

test_a_reviewable_table_is_held_and_runs_with_the_review_role if {
	d := data.airlock.decision.decision with input as object.union(hr_query, {"action": "execution.run"})
		with data.airlock.connector_grants.warehouse.review as {"read": ["hr.*"], "role": "hr_reviewed"}
	d.result == "review"
	d.review[0].code == "sql_table_needs_review"
	d.obligations.connector.role == "hr_reviewed"
}
