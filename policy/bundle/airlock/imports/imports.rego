# What an execution actually imported, checked after it ran (action "execution.imports"): the
# sandbox's import hook reports the modules the code loaded or tried to load, and the gateway
# withholds the result when any of them is not allowed. Before a run the same rule lists the
# runtime's modules the hook must refuse (the decision's obligation denied_imports). A package
# of its own, referenced only for that action: regorus evaluates a whole package when it is
# first used, and execution.run decisions need none of this.
package airlock.imports

import data.airlock.common
import data.airlock.execution
import data.airlock.hints
import data.airlock.install

# Third-party modules this principal may not load.
denied_modules contains m if {
	some m in execution.third_party
	d := execution.distribution(m)
	not d in data.airlock.packages.allowed
	not install.granted_projects[d]
}

violations contains v if {
	some m in denied_modules
	v := common.violation(
		"package_not_allowed",
		sprintf("the code imported %q (package %q), which is not on the allowlist; its result is withheld", [m, execution.distribution(m)]),
		sprintf("rewrite the code with the allowed packages: %s", [hints.allowed_packages]),
	)
}
