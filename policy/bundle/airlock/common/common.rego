# Helpers shared by the Airlock packages.
package airlock.common

# The limits profile of the principal: the first of its groups that has one, else the default.
# One rule with local variables (regorus evaluates each rule and each indexed data lookup at a
# cost; see docs/performance.md), indexed through a variable (an index into a call's result
# takes regorus's internal error path).
profile := candidates[0] if {
	profiles := data.airlock.profiles
	candidates := array.concat(
		[p | some g in input.principal.groups; p := profiles.by_group[g]],
		[profiles["default"]],
	)
}

in_any_group(groups) if {
	some g in input.principal.groups
	g in groups
}

violation(code, message, hint) := {"code": code, "message": message, "hint": hint}

# PEP 503 project name normalisation.
project(name) := regex.replace(lower(name), `[-_.]+`, "-")
