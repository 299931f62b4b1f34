# Package installs: `packages: ["name==version"]` in the request, granted by pins or ranges
# per default/group/tenant with sha256 from policy; served by the gateway's package index.
package airlock.install

import data.airlock.common

# Projects this execution installs with a granted pin may also be imported by it.
granted_projects contains name if {
	some p in input.request.packages
	[name, version] := pin(p)
	installable(name, version)
}

pin(p) := [common.project(parts[0]), parts[1]] if {
	parts := split(p, "==")
	count(parts) == 2
	parts[0] != ""
	parts[1] != ""
}

# What the caller may install: entries of `installable` (everyone), `installable_by_group` and
# `installable_by_tenant`, each a project -> list of versions ("1.0.0") or ranges (">=1.2,<2").
installable_specs(name) := {spec |
	some spec in object.get(data.airlock.packages.installable, name, [])
} | {spec |
	some g in input.principal.groups
	some spec in object.get(object.get(data.airlock.packages.installable_by_group, g, {}), name, [])
} | {spec |
	some spec in object.get(object.get(object.get(data.airlock.packages, "installable_by_tenant", {}), object.get(input.principal, "tenant", ""), {}), name, [])
}

# Release segments as four numbers ("1.2" -> [1, 2, 0, 0]); undefined for pre-releases and
# other non-numeric versions, which then match only an exact pin.
release(v) := array.slice(array.concat([to_number(x) | some x in split(v, ".")], [0, 0, 0, 0]), 0, 4) if {
	every x in split(v, ".") {
		regex.match(`^[0-9]+$`, x)
	}
}

clause_holds(version, clause) if {
	startswith(clause, ">=")
	release(version) >= release(trim_space(substring(clause, 2, -1)))
}

clause_holds(version, clause) if {
	startswith(clause, "<")
	not startswith(clause, "<=")
	release(version) < release(trim_space(substring(clause, 1, -1)))
}

clause_holds(version, clause) if {
	startswith(clause, "<=")
	release(version) <= release(trim_space(substring(clause, 2, -1)))
}

clause_holds(version, clause) if {
	startswith(clause, "==")
	version == trim_space(substring(clause, 2, -1))
}

satisfies(version, spec) if {
	version == spec
}

satisfies(version, spec) if {
	regex.match(`^[<>=]`, spec)
	every clause in split(spec, ",") {
		clause_holds(version, trim_space(clause))
	}
}

installable(name, version) if {
	some spec in installable_specs(name)
	satisfies(version, spec)
}

installable_pins contains sprintf("%s==%s", [n, spec]) if {
	some n, specs in data.airlock.packages.installable
	some spec in specs
	not regex.match(`^[<>=]`, spec)
}

installable_pins contains sprintf("%s %s", [n, spec]) if {
	some n, specs in data.airlock.packages.installable
	some spec in specs
	regex.match(`^[<>=]`, spec)
}

installable_pins contains sprintf("%s==%s", [n, spec]) if {
	some g in input.principal.groups
	some n, specs in object.get(data.airlock.packages.installable_by_group, g, {})
	some spec in specs
}

installable_hint := concat(", ", sort([p | some p in installable_pins])) if {
	count(installable_pins) > 0
} else := "none"

violations contains v if {
	some p in input.request.packages
	not pin(p)
	v := common.violation(
		"package_pin_required",
		sprintf("%q is not pinned", [p]),
		sprintf("ask for name==version; installable: %s", [installable_hint]),
	)
}

violations contains v if {
	some p in input.request.packages
	[name, version] := pin(p)
	not installable(name, version)
	v := common.violation(
		"package_install_not_allowed",
		sprintf("installing %s==%s is not allowed", [name, version]),
		sprintf("installable: %s", [installable_hint]),
	)
}

# Supply chain: each granted pin's files by sha256 (`packages.hashes["name==version"]`); with
# `require_hashes` (the default) a pin without hashes is not installable.
pin_hashes(name, version) := object.get(data.airlock.packages.hashes, sprintf("%s==%s", [name, version]), [])

violations contains v if {
	object.get(data.airlock.packages, "require_hashes", true)
	some p in input.request.packages
	[name, version] := pin(p)
	installable(name, version)
	count(pin_hashes(name, version)) == 0
	v := common.violation(
		"package_hash_missing",
		sprintf("%s==%s has no sha256 in policy, and hashes are required", [name, version]),
		"ask an administrator to add the wheel's sha256 to packages.hashes",
	)
}

granted_hashes := {sprintf("%s==%s", [name, version]): pin_hashes(name, version) |
	some p in input.request.packages
	[name, version] := pin(p)
	installable(name, version)
}

# The obligation: the pins the index may serve to this execution.
granted_packages := [sprintf("%s==%s", [name, version]) |
	some p in input.request.packages
	[name, version] := pin(p)
	installable(name, version)
]
