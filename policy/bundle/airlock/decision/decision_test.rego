package airlock.decision_test

import data.airlock.decision

principal := {"issuer": "i", "subject": "s", "groups": []}

test_allow_plain_python if {
	d := decision.decision with input as {
		"action": "execution.run", "principal": principal,
		"request": {"language": "python", "code_bytes": 3, "packages": [], "egress": []},
		"analysis": {"imports": ["pandas"], "dynamic_imports": 0, "pip_installs": []},
	}
	d.result == "allow"
	d.violations == []
}

test_deny_unknown_package if {
	d := decision.decision with input as {
		"action": "execution.run", "principal": principal,
		"request": {"language": "python", "code_bytes": 3, "packages": [], "egress": []},
		"analysis": {"imports": ["requests"], "dynamic_imports": 0, "pip_installs": []},
	}
	d.result == "deny"
	d.violations[0].code == "package_not_allowed"
}

test_unknown_action_denied if {
	d := decision.decision with input as {"action": "nuke", "principal": principal, "request": {}}
	d.result == "deny"
}

test_review_when_listed if {
	d := decision.decision with input as {
		"action": "execution.run", "principal": principal,
		"request": {"language": "python", "code_bytes": 3, "packages": [], "egress": []},
		"analysis": {"imports": ["scipy"], "dynamic_imports": 0, "pip_installs": []},
	} with data.airlock.packages.review as ["scipy"]
	d.result == "review"
}
