package airlock.review_test

import data.airlock.review

test_review_list_holds_execution if {
	inp := {"principal": {"groups": []}, "request": {}, "analysis": {"imports": ["scipy", "os"]}}
	r := review.review with input as inp with data.airlock.packages.review as ["scipy"]
	count(r) == 1
}

test_nothing_held_by_default if {
	count(review.review) == 0 with input as {"principal": {"groups": []}, "request": {}, "analysis": {"imports": ["scipy"]}}
}

test_a_case_needs_one_reviewer_by_default if {
	c := review.case with input as {"session": {"labels": []}}
	c.approvals_required == 1
	c.approver_groups == ["reviewers"]
	c.same_tenant == true
}

test_restricted_data_needs_two_approvals if {
	c := review.case with input as {"session": {"labels": ["confidential", "restricted"]}}
	c.approvals_required == 2
}

test_operators_name_their_own_approver_groups if {
	c := review.case with input as {"session": {"labels": []}}
		with data.airlock.review_rules as {"approver_groups": ["compliance"], "same_tenant": false}
	c.approver_groups == ["compliance"]
	c.same_tenant == false
	c.expires_in_seconds == 86400
}
