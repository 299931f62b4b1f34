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

# Who decides a held request's case, and how (obligations.review of a held decision): the
# approver groups, the approvals required (the most any of the session's labels asks for, else
# the default), how long the case stays open, and whether reviewers must share the requester's
# tenant. The gateway enforces four eyes on top, whatever this says.
case := {
	"approver_groups": rules.approver_groups,
	"approvals_required": max({rules.approvals} | {n | some l in object.get(input.session, "labels", []); n := object.get(rules.approvals_by_label, l, 0)}),
	"expires_in_seconds": rules.expires_in_seconds,
	"same_tenant": rules.same_tenant,
}

rules := object.union(
	{"approver_groups": ["reviewers"], "approvals": 1, "approvals_by_label": {}, "expires_in_seconds": 86400, "same_tenant": true},
	configured,
)

# Read by name: reading all of data.airlock would include the decision itself.
default configured := {}

configured := data.airlock.review_rules
