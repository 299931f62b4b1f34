package airlock.hints_test

import data.airlock.hints

test_allowed_packages_sorted if {
	hints.allowed_packages == "a, b" with data.airlock.packages.allowed as ["b", "a"]
}
