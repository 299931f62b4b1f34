# The entry point: one decision per request, from the package of its action. The action
# "execution.imports" checks modules an execution loaded at run time (analysis.imports) and
# lists the runtime modules the import hook refuses (obligations.denied_imports).
#
# Written as one rule with local variables on purpose: regorus spends tens of microseconds per
# separately evaluated rule (docs/performance.md), so the per-action guards are inline
# comprehensions and the packages of egress, installs, connectors and review are consulted only
# for requests that ask for them.
package airlock.decision

import data.airlock.common
import data.airlock.connectors
import data.airlock.egress
import data.airlock.execution
import data.airlock.files
import data.airlock.imports
import data.airlock.install
import data.airlock.outputs
import data.airlock.review as review_rules
import data.airlock.sessions

decision := {
	"result": result,
	"violations": [v | some v in violations],
	"review": [r | some r in review],
	"obligations": obligations,
} if {
	run := input.action == "execution.run"
	wants_egress := count(object.get(input.request, "egress", [])) > 0
	wants_packages := count(object.get(input.request, "packages", [])) > 0
	wants_connector := object.get(input.request, "connector", null) != null
	violations := (((({v | run; some v in execution.violations}
	| {v | run; wants_egress; some v in egress.violations})
	| {v | run; wants_packages; some v in install.violations})
	| {v | run; wants_connector; some v in connectors.violations})
	| {v | input.action in {"file.upload", "file.download"}; some v in files.violations})
	| {v | input.action == "session.create"; some v in sessions.violations}
	| {v | input.action == "execution.imports"; some v in imports.violations}
	| {v | input.action == "output.inspect"; some v in outputs.violations}
	| {v |
		not input.action in {"session.create", "file.upload", "file.download", "execution.run", "execution.imports", "output.inspect"}
		v := {"code": "unknown_action", "message": sprintf("no rules for action %q", [input.action]), "hint": ""}
	}
	review := ({r | run; count(data.airlock.packages.review) > 0; some r in review_rules.review} | {r | input.action == "output.inspect"; some r in outputs.review}) | {r | run; wants_connector; some r in connectors.review}
	# Indexed through variables: regorus takes an internal error path (a backtrace capture when
	# RUST_BACKTRACE is set) for an index into a literal.
	held := {false: "allow", true: "review"}
	ranked := {false: held[count(review) > 0], true: "deny"}
	result := ranked[count(violations) > 0]

	# Sandbox resources and caps from the principal's profile (optional keys memory_mib,
	# cpu_millis, max_sessions, max_running_executions); the gateway applies them when lower
	# than its own.
	profile := common.profile
	tenant_limits := object.get({"l": l | l := data.airlock.tenant_limits[input.principal.tenant]}, "l", {})
	obligations := {
		"max_timeout_seconds": profile.max_timeout_seconds,
		"memory_mib": object.get(profile, "memory_mib", null),
		"cpu_millis": object.get(profile, "cpu_millis", null),
		"max_sessions": object.get({"cap": c | input.action == "session.create"; c := profile.max_sessions}, "cap", null),
		"max_running_executions": object.get({"cap": c | run; c := profile.max_running_executions}, "cap", null),
		# Caps of the principal's tenant as a whole (data.airlock.tenant_limits.<tenant>).
		"tenant_max_sessions": object.get({"cap": c | input.action == "session.create"; c := tenant_limits.max_sessions}, "cap", null),
		"tenant_max_running_executions": object.get({"cap": c | run; c := tenant_limits.max_running_executions}, "cap", null),
		"egress": [g | run; wants_egress; some g in egress.grants],
		"egress_http_methods": object.get(data.airlock.egress_rules, "plain_http_methods", ["GET", "HEAD"]),
		"packages": [p | run; wants_packages; some p in install.granted_packages],
		"package_hashes": {k: h | run; wants_packages; some k, h in install.granted_hashes},
		"connector": object.get({"grant": g | run; wants_connector; g := connectors.grant}, "grant", null),
		"denied_imports": [m | input.action == "execution.imports"; some m in imports.denied_modules],
		"outputs": [r | input.action == "output.inspect"; some r in outputs.rulings],
		"review": object.get({"case": c | count(review) > 0; c := review_rules.case}, "case", null),
	}
}
