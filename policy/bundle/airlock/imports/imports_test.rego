package airlock.imports_test

import data.airlock.imports

test_runtime_imports_outside_the_allowlist_are_denied_and_listed if {
	inp := {
		"action": "execution.imports",
		"principal": {"subject": "a", "groups": ["analysts"]},
		"request": {"language": "python"},
		"analysis": {"imports": ["numpy", "jedi", "os", "psutil", "pandas"]},
	}
	vs := imports.violations with input as inp
	{v.code | some v in vs} == {"package_not_allowed"}
	count(vs) == 2
	imports.denied_modules == {"jedi", "psutil"} with input as inp
}
