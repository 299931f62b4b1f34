package airlock.sessions_test

import data.airlock.sessions

test_open_by_default if {
	count(sessions.violations) == 0 with input as {"principal": {"groups": []}}
}

test_required_groups if {
	some v in sessions.violations with input as {"principal": {"groups": ["x"]}}
		with data.airlock.sessions.required_groups as ["analysts"]
	v.code == "group_not_allowed"
	count(sessions.violations) == 0 with input as {"principal": {"groups": ["analysts"]}}
		with data.airlock.sessions.required_groups as ["analysts"]
}
