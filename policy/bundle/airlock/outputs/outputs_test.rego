package airlock.outputs_test

import data.airlock.outputs

principal := {"issuer": "i", "subject": "s", "groups": []}

finding(detector, where) := {"detector": detector, "where": where, "count": 2}

inspect(labels, findings) := {
	"action": "output.inspect",
	"principal": principal,
	"session": {"id": "s1", "labels": labels, "executions": 1},
	"request": {"findings": findings},
}

test_unlabelled_sessions_let_personal_data_out if {
	count(outputs.rulings) == 0 with input as inspect([], [finding("email", "stdout")])
	count(outputs.violations) == 0 with input as inspect([], [finding("email", "stdout")])
}

test_restricted_sessions_mask_every_finding if {
	inp := inspect(["restricted"], [finding("email", "stdout"), finding("my_detector", "display")])
	rs := outputs.rulings with input as inp
	{"detector": "email", "where": "stdout", "action": "mask", "keep_last": null} in rs
	{"detector": "my_detector", "where": "display", "action": "mask", "keep_last": null} in rs
	count(outputs.violations) == 0 with input as inp
}

test_restricted_cards_keep_their_last_four_digits if {
	rs := outputs.rulings with input as inspect(["internal", "restricted"], [finding("payment_card", "sql")])
	{"detector": "payment_card", "where": "sql", "action": "mask", "keep_last": 4} in rs
}

test_restricted_files_that_are_not_text_are_blocked if {
	inp := inspect(["restricted"], [finding("uninspectable", "file")])
	some v in outputs.violations with input as inp
	v.code == "output_blocked"
	contains(v.hint, "CSV")
}

test_operator_rules_for_confidential_data if {
	rules := {"confidential": {"us_ssn": {"action": "block"}, "email": {"action": "hold", "where": ["file"]}}}
	inp := inspect(["confidential"], [finding("us_ssn", "stdout"), finding("email", "file"), finding("email", "stdout")])
	some v in outputs.violations with input as inp with data.airlock.outputs.by_label as rules
	v.code == "output_blocked"
	held := outputs.review with input as inp with data.airlock.outputs.by_label as rules
	count(held) == 1
	some h in held
	contains(h.message, "file")
}

test_the_default_table_applies_to_every_session if {
	rs := outputs.rulings with input as inspect([], [finding("iban", "stderr")]) with data.airlock.outputs.default as {"iban": {"action": "mask", "keep_last": 4}}
	{"detector": "iban", "where": "stderr", "action": "mask", "keep_last": 4} in rs
}
