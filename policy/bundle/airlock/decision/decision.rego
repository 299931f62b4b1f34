# The entry point: one decision per request, from the package of its action.
package airlock.decision

import data.airlock.egress
import data.airlock.execution
import data.airlock.files
import data.airlock.sessions

known_actions := {"session.create", "file.upload", "file.download", "execution.run"}

violations contains v if {
	input.action == "execution.run"
	some v in execution.violations
}

violations contains v if {
	input.action == "execution.run"
	some v in egress.violations
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
	some r in execution.review
}

result := "deny" if {
	count(violations) > 0
} else := "review" if {
	count(review) > 0
} else := "allow"

egress_grants := egress.grants if {
	input.action == "execution.run"
} else := []

package_grants := execution.granted_packages if {
	input.action == "execution.run"
} else := []

package_hashes := execution.granted_hashes if {
	input.action == "execution.run"
} else := {}

obligations := {
	"max_timeout_seconds": data.airlock.common.profile.max_timeout_seconds,
	"egress": egress_grants,
	"egress_http_methods": egress.methods,
	"packages": package_grants,
	"package_hashes": package_hashes,
}

decision := {
	"result": result,
	"violations": [v | some v in violations],
	"review": [r | some r in review],
	"obligations": obligations,
}
