# Packages that are allowed but need a compliance reviewer first (`packages.review`).
# The decision consults this package only when the review list is not empty.
package airlock.review

import data.airlock.common
import data.airlock.execution

review contains r if {
	some m in execution.third_party
	d := execution.distribution(m)
	d in data.airlock.packages.review
	r := common.violation(
		"package_requires_review",
		sprintf("package %q needs a reviewer's approval", [d]),
		"the execution is held until a reviewer decides",
	)
}
