package airlock.common_test

import data.airlock.common

test_default_profile_without_groups if {
	p := common.profile with input as {"principal": {"groups": []}}
	p.max_timeout_seconds == data.airlock.profiles["default"].max_timeout_seconds
}

test_group_profile_wins if {
	p := common.profile with input as {"principal": {"groups": ["x", "interns"]}}
		with data.airlock.profiles.by_group as {"interns": {"languages": ["python"], "max_timeout_seconds": 10, "max_code_bytes": 100}}
	p.max_timeout_seconds == 10
}

test_in_any_group if {
	common.in_any_group(["b"]) with input as {"principal": {"groups": ["a", "b"]}}
	not common.in_any_group(["c"]) with input as {"principal": {"groups": ["a", "b"]}}
}

test_first_group_with_a_profile_wins if {
	p := common.profile with input as {"principal": {"groups": ["none", "b", "a"]}}
		with data.airlock.profiles.by_group as {
			"a": {"languages": ["python"], "max_timeout_seconds": 1, "max_code_bytes": 1},
			"b": {"languages": ["python"], "max_timeout_seconds": 2, "max_code_bytes": 2},
		}
	p.max_timeout_seconds == 2
}
