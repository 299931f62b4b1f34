# Helpers shared by the Airlock packages.
package airlock.common

# The limits profile of the principal: the first of its groups that has one, else the default.
group_profiles := [data.airlock.profiles.by_group[g] |
	some g in input.principal.groups
	data.airlock.profiles.by_group[g]
]

profile := group_profiles[0] if {
	count(group_profiles) > 0
} else := data.airlock.profiles["default"]

in_any_group(groups) if {
	some g in input.principal.groups
	g in groups
}

violation(code, message, hint) := {"code": code, "message": message, "hint": hint}

# PEP 503 project name normalisation.
project(name) := regex.replace(lower(name), `[-_.]+`, "-")
