# SQL through a warehouse connector: which groups may use which connector, which tables they
# may read (and write: none by default), the Vault role their credentials come from and the
# row limit. Consulted only for requests that name a connector.
#
# data.airlock.connector_grants[connector].groups[group] =
#   {"read": ["sales.*", "ref.regions"], "write": [], "role": "analyst_read", "row_limit": 1000}
package airlock.connectors

import data.airlock.common
import data.airlock.scopes

grants := [g |
	some group in input.principal.groups
	g := data.airlock.connector_grants[input.request.connector].groups[group]
]

granted if count(grants) > 0

read_patterns := {p | some g in grants; some p in g.read}

write_patterns := {p | some g in grants; some p in object.get(g, "write", [])}

# "schema.*" matches every table of the schema; anything else matches itself.
matches(table, pattern) if table == pattern

matches(table, pattern) if {
	endswith(pattern, ".*")
	startswith(table, trim_suffix(pattern, "*"))
}

readable(table) if {
	some p in read_patterns
	matches(table, p)
}

writable(table) if {
	some p in write_patterns
	matches(table, p)
}

sql := object.get(object.get(input, "analysis", {}), "sql", {"statements": []})

violations contains v if {
	not granted
	v := common.violation(
		"connector_not_allowed",
		sprintf("connector %q is not configured for you", [input.request.connector]),
		"run SQL without a connector over the session's files (DuckDB)",
	)
}

violations contains v if {
	granted
	input.request.language != "sql"
	v := common.violation("connector_language", "a connector runs SQL only", "send the query with language \"sql\"")
}

violations contains v if {
	granted
	sql.error
	v := common.violation(
		"sql_unparseable",
		sprintf("the SQL does not parse: %s", [sql.error]),
		"send one plain SQL statement in the connector's dialect",
	)
}

# Data scopes: data labelled for no egress (data.airlock.data_scopes.no_egress, "restricted" by
# default) never arrives in an execution that holds network egress: SQL sent from such code
# (airlock.sql()) is refused. The session holds the labels afterwards, so later executions get
# no egress either (airlock.egress).
no_egress_labels contains l if {
	some l in object.get(input.request, "connector_labels", [])
	l in scopes.no_egress_labels
}

violations contains v if {
	count(no_egress_labels) > 0
	count(object.get(input.request, "running_egress", [])) > 0
	v := common.violation(
		"data_scope_egress",
		sprintf("connector %q holds %s data, and the running execution has network egress (%s)", [input.request.connector, concat(", ", sort([l | some l in no_egress_labels])), concat(", ", input.request.running_egress)]),
		"read this data in an execution without egress (ask for no egress hosts), then work on it there",
	)
}

# Every form the analyser does not fully understand is refused with its own code (the gateway
# refuses it too, whatever this bundle says: only SQL the analyser accepted whole can run).
violations contains v if {
	granted
	some r in object.get(sql, "refusals", [])
	v := common.violation(r.code, r.message, r.hint)
}

violations contains v if {
	granted
	not sql.error
	count(sql.statements) != 1
	v := common.violation(
		"sql_multiple_statements",
		sprintf("%d statements were sent; a connector runs exactly one", [count(sql.statements)]),
		"send one statement per execution",
	)
}

# Tables outside the caller's grants that a reviewer may open, one statement at a time:
# data.airlock.connector_grants[connector].review = {"read": ["hr.*"], "role": "hr_reviewed"}.
# A read of one is held for review instead of denied; approved, that one statement runs once
# with the review's Vault role.
review_grant := object.get(object.get(data.airlock.connector_grants, input.request.connector, {}), "review", {})

reviewable(table) if {
	some p in object.get(review_grant, "read", [])
	matches(table, p)
}

held_tables contains t if {
	granted
	some s in sql.statements
	some t in s.reads
	not readable(t)
	not writable(t)
	reviewable(t)
}

review contains r if {
	some t in held_tables
	r := common.violation(
		"sql_table_needs_review",
		sprintf("reading %s needs a reviewer's approval", [t]),
		"the statement is held until a reviewer decides; approved, it runs once",
	)
}

violations contains v if {
	granted
	some s in sql.statements
	some t in s.reads
	not readable(t)
	not writable(t)
	not reviewable(t)
	v := common.violation(
		"sql_table_not_allowed",
		sprintf("you may not read %s", [t]),
		sprintf("tables you may read: %s", [concat(", ", sort([p | some p in read_patterns]))]),
	)
}

violations contains v if {
	granted
	some s in sql.statements
	s.writes
	count(s.writes_to) == 0
	v := common.violation(
		"sql_write_not_allowed",
		sprintf("a %s statement changes the database; only reads are allowed", [s.kind]),
		"use SELECT",
	)
}

violations contains v if {
	granted
	some s in sql.statements
	some t in s.writes_to
	not writable(t)
	v := common.violation(
		"sql_write_not_allowed",
		sprintf("you may not change %s (%s)", [t, s.kind]),
		"only reads are allowed; use SELECT",
	)
}

# The obligation: the first grant's role, the smallest row limit of the grants.
# Column masks and row filters: data.airlock.connector_grants[connector].tables names governed
# tables ("schema.table") with "masks" (column -> {"kind": "null" | "redact" | "keep_last",
# "keep": n}), a "row_filter" (conditions that all hold: {"column", "in": [values]} or
# {"column", "in_principal": "tenant" | "subject" | "email" | "groups"}, the principal's own
# values; a principal without the attribute sees no row) and "exempt_groups" (who reads the
# table as it is). The gateway rewrites every reference of a governed table into a view of
# masked columns and permitted rows, and refuses writes to one.
table_rules := object.get(object.get(data.airlock.connector_grants, input.request.connector, {}), "tables", {})

exempt(rules) if {
	some g in object.get(rules, "exempt_groups", [])
	g in input.principal.groups
}

principal_values(attribute) := v if {
	v := object.get(input.principal, attribute, null)
	is_array(v)
} else := [v] if {
	v := object.get(input.principal, attribute, null)
	v != null
} else := []

filter_condition(c) := {"column": c.column, "in": principal_values(c.in_principal)} if {
	c.in_principal
} else := {"column": c.column, "in": c["in"]}

governed[lower(table)] := {
	"masks": object.get(rules, "masks", {}),
	"row_filter": [filter_condition(c) | some c in object.get(rules, "row_filter", [])],
} if {
	some table, rules in table_rules
	not exempt(rules)
}

violations contains v if {
	granted
	some s in sql.statements
	some t in s.writes_to
	governed[lower(t)]
	v := common.violation(
		"sql_write_governed",
		sprintf("%s is read through column masks or row filters and cannot be changed through a connector", [t]),
		"read it here; change it through a process that owns the data",
	)
}

# A held statement runs, once approved, with the review's role.
grant_role := r if {
	count(held_tables) > 0
	r := review_grant.role
} else := grants[0].role

grant := {
	"name": input.request.connector,
	"role": grant_role,
	"row_limit": min([object.get(g, "row_limit", 1000) | some g in grants]),
	"read_only": count(write_patterns) == 0,
	"governed": governed,
} if granted
