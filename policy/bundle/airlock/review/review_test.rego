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
