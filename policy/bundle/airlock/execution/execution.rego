# Rules for running code: languages and sizes per group, Python packages by allowlist.
# Installs: package airlock.install; egress: package airlock.egress; SQL through connectors:
# package airlock.connectors (each evaluated only for requests that ask for it).
package airlock.execution

import data.airlock.common
import data.airlock.hints
import data.airlock.install

violations contains v if {
	not input.request.language in common.profile.languages
	v := common.violation(
		"language_not_allowed",
		sprintf("language %q is not allowed for you", [input.request.language]),
		sprintf("allowed languages: %s", [concat(", ", common.profile.languages)]),
	)
}

violations contains v if {
	input.request.code_bytes > common.profile.max_code_bytes
	v := common.violation(
		"code_too_large",
		sprintf("the code is %d bytes; the limit is %d", [input.request.code_bytes, common.profile.max_code_bytes]),
		"split the work into smaller executions; state persists between them",
	)
}

violations contains v if {
	input.request.timeout_seconds > common.profile.max_timeout_seconds
	v := common.violation(
		"timeout_not_allowed",
		sprintf("timeout_seconds %d exceeds your limit of %d", [input.request.timeout_seconds, common.profile.max_timeout_seconds]),
		sprintf("ask for at most %d seconds", [common.profile.max_timeout_seconds]),
	)
}

# Top-level modules that are not part of the standard library.
third_party contains m if {
	some m in input.analysis.imports
	not data.airlock.packages.stdlib[m]
}

distribution(m) := d if {
	d := data.airlock.packages.import_to_distribution[m]
} else := common.project(m)

violations contains v if {
	some m in third_party
	d := distribution(m)
	# Membership in the list itself: `in` scans it in the engine's Rust code, which for
	# allowlists of tens to hundreds of names is cheaper than building a set in Rego on every
	# evaluation (docs/policy.md, "Keeping decisions fast").
	not d in data.airlock.packages.allowed
	not install.granted_projects[d]
	v := common.violation(
		"package_not_allowed",
		sprintf("package %q (imported as %q) is not on the allowlist", [d, m]),
		sprintf("rewrite the code with the allowed packages: %s", [hints.allowed_packages]),
	)
}

# Code that runs code the analysis cannot see (analysis.dynamic_code: imports by computed
# names, exec of computed text, module loaders, computed lookups on builtins, %run). Refused, so
# the model rewrites it plainly; what slips past this is still governed at run time by the
# sandbox's import hook and the check of what was imported (package airlock.imports). One rule
# over a list that is almost always empty: regorus spends tens of microseconds per separately
# evaluated rule, and an empty iteration ends it at once.
violations contains v if {
	some form in input.analysis.dynamic_code
	texts := {
		true: [
			"dynamic_import_not_allowed",
			"the code imports a module by a computed name, which policy cannot check",
			"use a plain import statement (import x) or __import__ with a literal name",
		],
		false: [
			"dynamic_code_not_allowed",
			sprintf("the code runs code policy cannot check: %s", [form]),
			"write the code out directly: plain import statements, no exec/eval/compile of built-up text, no loading modules by path or computed name, no %run or %load",
		],
	}
	t := texts[form == "computed import"]
	v := common.violation(t[0], t[1], t[2])
}

# Installs: only `packages: ["name==version"]` in the request, served by the gateway's package
# index; pip run by the code itself finds no index it may use.
violations contains v if {
	some p in input.analysis.pip_installs
	v := common.violation(
		"package_install_not_allowed",
		sprintf("the code installs %q itself", [p]),
		sprintf("ask for it in the request's packages field as name==version instead; installable: %s", [install.installable_hint]),
	)
}
