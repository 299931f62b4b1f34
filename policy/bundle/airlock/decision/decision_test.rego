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

test_connector_sql_through_the_decision if {
	inp := {
		"action": "execution.run", "principal": {"issuer": "i", "subject": "s", "groups": ["analysts"]},
		"request": {"language": "sql", "code_bytes": 20, "packages": [], "egress": [], "connector": "warehouse"},
		"analysis": {"imports": [], "dynamic_imports": 0, "pip_installs": [], "sql": {"dialect": "postgres", "statements": [{"kind": "select", "writes": false, "reads": ["sales.orders"], "writes_to": []}]}},
	}
	d := decision.decision with input as inp
	d.result == "allow"
	d.obligations.connector.role == "analyst_read"
	denied := decision.decision with input as object.union(inp, {"principal": {"issuer": "i", "subject": "s", "groups": []}})
	"connector_not_allowed" in {v.code | some v in denied.violations}
	plain := decision.decision with input as {
		"action": "execution.run", "principal": inp.principal,
		"request": {"language": "python", "code_bytes": 1, "packages": [], "egress": []},
		"analysis": {"imports": [], "dynamic_imports": 0, "pip_installs": []},
	}
	plain.obligations.connector == null
}

test_sandbox_resources_come_from_the_group_profile if {
	d := decision.decision with input as {
		"action": "session.create",
		"principal": {"issuer": "i", "subject": "s", "groups": ["interns"]},
		"request": {},
	}
		with data.airlock.profiles.by_group as {"interns": {"languages": ["python"], "max_timeout_seconds": 10, "max_code_bytes": 100, "memory_mib": 512, "cpu_millis": 500}}
	d.obligations.memory_mib == 512
	d.obligations.cpu_millis == 500
}

test_caps_come_from_the_group_profile_for_their_own_action if {
	profiles := {"contractors": {"languages": ["python"], "max_timeout_seconds": 10, "max_code_bytes": 100, "max_sessions": 2, "max_running_executions": 1}}
	p := {"issuer": "i", "subject": "s", "groups": ["contractors"]}
	create := decision.decision with input as {"action": "session.create", "principal": p, "request": {}}
		with data.airlock.profiles.by_group as profiles
	create.obligations.max_sessions == 2
	create.obligations.max_running_executions == null
	run := decision.decision with input as {
		"action": "execution.run", "principal": p,
		"request": {"language": "python", "code_bytes": 3, "packages": [], "egress": []},
		"analysis": {"imports": [], "dynamic_imports": 0, "pip_installs": []},
	}
		with data.airlock.profiles.by_group as profiles
	run.obligations.max_running_executions == 1
	run.obligations.max_sessions == null
}

test_a_tenants_caps_come_from_tenant_limits if {
	limits := {"acme": {"max_sessions": 20, "max_running_executions": 4}}
	p := {"issuer": "i", "subject": "s", "groups": [], "tenant": "acme"}
	create := decision.decision with input as {"action": "session.create", "principal": p, "request": {}}
		with data.airlock.tenant_limits as limits
	create.obligations.tenant_max_sessions == 20
	create.obligations.tenant_max_running_executions == null
	run := decision.decision with input as {
		"action": "execution.run", "principal": p,
		"request": {"language": "python", "code_bytes": 3, "packages": [], "egress": []},
		"analysis": {"imports": [], "dynamic_imports": 0, "pip_installs": []},
	}
		with data.airlock.tenant_limits as limits
	run.obligations.tenant_max_running_executions == 4
	other := decision.decision with input as {"action": "session.create", "principal": object.union(p, {"tenant": "globex"}), "request": {}}
		with data.airlock.tenant_limits as limits
	other.obligations.tenant_max_sessions == null
}

test_no_caps_without_a_profile_that_sets_them if {
	d := decision.decision with input as {"action": "session.create", "principal": principal, "request": {}}
	d.obligations.max_sessions == null
	d.obligations.max_running_executions == null
}

test_no_sandbox_resources_without_a_profile_that_sets_them if {
	d := decision.decision with input as {"action": "session.create", "principal": principal, "request": {}}
	d.obligations.memory_mib == null
	d.obligations.cpu_millis == null
}

test_a_violation_outranks_review if {
	d := decision.decision with input as {
		"action": "execution.run", "principal": principal,
		"request": {"language": "python", "code_bytes": 3, "packages": [], "egress": []},
		"analysis": {"imports": ["scipy", "requests"], "dynamic_imports": 0, "pip_installs": []},
	} with data.airlock.packages.review as ["scipy"]
	d.result == "deny"
	[v.code | some v in d.violations] == ["package_not_allowed"]
}

test_requests_without_egress_packages_or_connector_get_empty_grants if {
	d := decision.decision with input as {
		"action": "execution.run", "principal": principal,
		"request": {"language": "python", "code_bytes": 3},
		"analysis": {"imports": [], "dynamic_imports": 0, "pip_installs": []},
	}
	d.result == "allow"
	d.obligations.egress == []
	d.obligations.packages == []
	d.obligations.package_hashes == {}
	d.obligations.connector == null
}

test_execution_imports_lists_denied_runtime_modules if {
	d := decision.decision with input as {
		"action": "execution.imports", "principal": principal,
		"request": {"language": "python"},
		"analysis": {"imports": ["numpy", "jedi", "tornado", "json"]},
	}
	d.result == "deny"
	{v.code | some v in d.violations} == {"package_not_allowed"}
	sort(d.obligations.denied_imports) == ["jedi", "tornado"]
	d2 := decision.decision with input as {
		"action": "execution.imports", "principal": principal,
		"request": {"language": "python"},
		"analysis": {"imports": ["numpy", "pandas"]},
	}
	d2.result == "allow"
	d2.obligations.denied_imports == []
}

test_a_held_output_names_its_reviewers_and_approvals if {
	d := decision.decision with input as {
		"action": "output.inspect", "principal": principal,
		"session": {"id": "s1", "labels": ["confidential", "restricted"], "executions": 1},
		"request": {"findings": [{"detector": "iban", "where": "stdout", "count": 1}]},
	} with data.airlock.outputs.by_label as {"confidential": {"iban": {"action": "hold"}}}
	d.result == "review"
	d.review[0].code == "output_held"
	d.obligations.review.approver_groups == ["reviewers"]
	d.obligations.review.approvals_required == 2
}

test_an_output_nothing_holds_has_no_review_rules if {
	d := decision.decision with input as {
		"action": "output.inspect", "principal": principal,
		"session": {"id": "s1", "labels": ["restricted"], "executions": 1},
		"request": {"findings": [{"detector": "email", "where": "stdout", "count": 1}]},
	}
	d.result == "allow"
	d.obligations.review == null
}
