# The entry point: one decision per request, from the package of its action.
package airlock.decision

import data.airlock.connectors
import data.airlock.egress
import data.airlock.execution
import data.airlock.files
import data.airlock.install
import data.airlock.review as review_rules
import data.airlock.sessions

known_actions := {"session.create", "file.upload", "file.download", "execution.run"}

violations contains v if {
	input.action == "execution.run"
	some v in execution.violations
}

# Egress and install rules only for requests that ask for egress or packages: their modules
# are not evaluated otherwise.
violations contains v if {
	input.action == "execution.run"
	count(input.request.egress) > 0
	some v in egress.violations
}

violations contains v if {
	input.action == "execution.run"
	count(input.request.packages) > 0
	some v in install.violations
}

violations contains v if {
	input.action == "execution.run"
	input.request.connector
	some v in connectors.violations
}

violations contains v if {
	input.action in {"file.upload", "file.download"}
	some v in files.violations
}

violations contains v if {
	input.action == "session.create"
	some v in sessions.violations
}

violations contains v if {
	not input.action in known_actions
	v := {"code": "unknown_action", "message": sprintf("no rules for action %q", [input.action]), "hint": ""}
}

review contains r if {
	input.action == "execution.run"
	count(data.airlock.packages.review) > 0
	some r in review_rules.review
}

result := "deny" if {
	count(violations) > 0
} else := "review" if {
	count(review) > 0
} else := "allow"

egress_grants := egress.grants if {
	input.action == "execution.run"
	count(input.request.egress) > 0
} else := []

package_grants := install.granted_packages if {
	input.action == "execution.run"
	count(input.request.packages) > 0
} else := []

package_hashes := install.granted_hashes if {
	input.action == "execution.run"
	count(input.request.packages) > 0
} else := {}

connector_grant := connectors.grant if {
	input.action == "execution.run"
	input.request.connector
} else := null

# Sandbox resources from the principal's profile (optional keys memory_mib, cpu_millis); the
# gateway applies them when lower than its defaults.
obligations := {
	"max_timeout_seconds": data.airlock.common.profile.max_timeout_seconds,
	"memory_mib": object.get(data.airlock.common.profile, "memory_mib", null),
	"cpu_millis": object.get(data.airlock.common.profile, "cpu_millis", null),
	"egress": egress_grants,
	"egress_http_methods": object.get(data.airlock.egress_rules, "plain_http_methods", ["GET", "HEAD"]),
	"packages": package_grants,
	"package_hashes": package_hashes,
	"connector": connector_grant,
}

decision := {
	"result": result,
	"violations": [v | some v in violations],
	"review": [r | some r in review],
	"obligations": obligations,
}
