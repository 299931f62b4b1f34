# Who may open a session.
package airlock.sessions

import data.airlock.common

violations contains v if {
	count(data.airlock.sessions.required_groups) > 0
	not common.in_any_group(data.airlock.sessions.required_groups)
	v := common.violation(
		"group_not_allowed",
		"you are not in a group allowed to use the code interpreter",
		sprintf("ask to be added to one of: %s", [concat(", ", data.airlock.sessions.required_groups)]),
	)
}
