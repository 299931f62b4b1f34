# What leaves a sandbox (action "output.inspect"): the gateway's detectors report, per detector
# and place, how many values they found (input.request.findings: never the values); this package
# rules on each (obligations.outputs): allow, mask (keep_last keeps the last characters), hold
# for a reviewer, or block. A block is also a violation, whose hint the model reads.
#
# The rules are data (data.airlock.outputs): `default` applies to every session, `by_label`
# to sessions holding a data label; each maps a detector (or "*" for every detector) to
# {"action", "keep_last", "where"} ("where": the places it applies to, every place when absent).
# Every applicable ruling is returned; the gateway applies the strictest per finding
# (block > hold > mask > allow). Out of the box, sessions holding restricted data have every
# finding masked and files that cannot be inspected blocked; confidential data follows the
# rules the operator adds (by_label.confidential).
package airlock.outputs

import data.airlock.common

labels := object.get(object.get(input, "session", {}), "labels", [])

# The rule tables that apply to this session: the default, then one per label it holds.
tables contains t if t := object.get(data.airlock.outputs, "default", {})

tables contains t if {
	some l in labels
	t := data.airlock.outputs.by_label[l]
}

# The rule of `table` for a finding: its detector's own, else the table's "*".
rule_for(table, f) := table[f.detector]

rule_for(table, f) := table["*"] if not table[f.detector]

applies(rule, f) if not rule.where

applies(rule, f) if f.where in rule.where

rulings contains r if {
	some f in input.request.findings
	some t in tables
	rule := rule_for(t, f)
	applies(rule, f)
	r := {
		"detector": f.detector,
		"where": f.where,
		"action": rule.action,
		"keep_last": object.get(rule, "keep_last", null),
	}
}

violations contains v if {
	some r in rulings
	r.action == "block"
	some f in input.request.findings
	f.detector == r.detector
	f.where == r.where
	v := common.violation(
		"output_blocked",
		sprintf("the %s holds %d value(s) found by the %q detector, which may not leave this session", [f.where, f.count, f.detector]),
		hint(f),
	)
}

review contains v if {
	some r in rulings
	r.action == "hold"
	some f in input.request.findings
	f.detector == r.detector
	f.where == r.where
	v := common.violation(
		"output_held",
		sprintf("the %s holds %d value(s) found by the %q detector; a reviewer must release it", [f.where, f.count, f.detector]),
		hint(f),
	)
}

hint(f) := "the file is not text, so it cannot be inspected; write the result as text (CSV or JSON) instead" if {
	f.detector == "uninspectable"
} else := "return aggregates (counts, sums) or masked values instead of the values themselves"
