package airlock.execution_test

import data.airlock.execution
import data.airlock.install

base := {
	"action": "execution.run",
	"principal": {"issuer": "i", "subject": "s", "groups": []},
	"request": {"language": "python", "code_bytes": 10, "packages": [], "egress": []},
	"analysis": {"imports": [], "modules": [], "dynamic_imports": 0, "pip_installs": [], "shell_commands": []},
}

with_imports(imports) := object.union(base, {"analysis": object.union(base.analysis, {"imports": imports})})

codes(inp) := {v.code | some v in execution.violations with input as inp} | {v.code | some v in install.violations with input as inp}

test_stdlib_and_allowlisted_imports_pass if {
	codes(with_imports(["os", "json", "pandas", "matplotlib", "numpy"])) == set()
}

test_unlisted_package_is_denied_with_hint if {
	some v in execution.violations with input as with_imports(["requests"])
	v.code == "package_not_allowed"
	contains(v.hint, "pandas")
}

test_import_name_maps_to_distribution if {
	some v in execution.violations with input as with_imports(["sklearn"])
	contains(v.message, "scikit-learn")
}

test_language_limited_by_profile if {
	inp := object.union(base, {"request": object.union(base.request, {"language": "bash"})})
	codes(inp) == {"language_not_allowed"} with data.airlock.profiles["default"].languages as ["python"]
}

test_code_too_large if {
	inp := object.union(base, {"request": object.union(base.request, {"code_bytes": 999999999})})
	"code_too_large" in codes(inp)
}

test_timeout_over_profile if {
	inp := object.union(base, {"request": object.union(base.request, {"timeout_seconds": 100000})})
	"timeout_not_allowed" in codes(inp)
}

test_installs_denied if {
	inp := object.union(base, {
		"request": object.union(base.request, {"packages": ["flask==3.0"], "egress": ["example.com"]}),
		"analysis": object.union(base.analysis, {"pip_installs": ["requests"]}),
	})
	codes(inp) == {"package_install_not_allowed"}
}

installable := {"airlock-demo": ["1.0.0"]}

test_pinned_installable_package_is_granted if {
	inp := object.union(base, {"request": object.union(base.request, {"packages": ["Airlock_Demo==1.0.0"]})})
	codes(inp) == set() with data.airlock.packages.installable as installable with data.airlock.packages.require_hashes as false
	install.granted_packages == ["airlock-demo==1.0.0"] with input as inp with data.airlock.packages.installable as installable
}

test_other_version_and_unpinned_are_denied if {
	inp := object.union(base, {"request": object.union(base.request, {"packages": ["airlock-demo==2.0.0", "airlock-demo"]})})
	codes(inp) == {"package_install_not_allowed", "package_pin_required"} with data.airlock.packages.installable as installable with data.airlock.packages.require_hashes as false
	some v in install.violations with input as inp with data.airlock.packages.installable as installable
	contains(v.hint, "airlock-demo==1.0.0")
}

test_group_pins if {
	inp := object.union(base, {"principal": {"groups": ["ml"]}, "request": object.union(base.request, {"packages": ["torch==2.1.0"]})})
	codes(inp) == set() with data.airlock.packages.installable_by_group as {"ml": {"torch": ["2.1.0"]}} with data.airlock.packages.require_hashes as false
}

test_dynamic_import_denied if {
	inp := object.union(base, {"analysis": object.union(base.analysis, {"dynamic_imports": 1, "dynamic_code": ["computed import"]})})
	codes(inp) == {"dynamic_import_not_allowed"}
}



test_version_ranges if {
	specs := {"lib": [">=1.2, <2", "3.0.0rc1"]}
	ok := object.union(base, {"request": object.union(base.request, {"packages": ["lib==1.2.0", "lib==1.9.9", "lib==3.0.0rc1"]})})
	codes(ok) == set() with data.airlock.packages.installable as specs with data.airlock.packages.require_hashes as false
	bad := object.union(base, {"request": object.union(base.request, {"packages": ["lib==1.1.9", "lib==2.0", "lib==1.5rc1"]})})
	count(install.violations) == 3 with input as bad with data.airlock.packages.installable as specs
}

test_tenant_pins if {
	inp := object.union(base, {"principal": {"groups": [], "tenant": "acme"}, "request": object.union(base.request, {"packages": ["pkg==1.0"]})})
	codes(inp) == set() with data.airlock.packages.installable_by_tenant as {"acme": {"pkg": ["1.0"]}} with data.airlock.packages.require_hashes as false
	codes(inp) == {"package_install_not_allowed"} with data.airlock.packages.installable_by_tenant as {"other": {"pkg": ["1.0"]}}
}

test_hashes_required_by_default if {
	inp := object.union(base, {"request": object.union(base.request, {"packages": ["airlock-demo==1.0.0"]})})
	codes(inp) == {"package_hash_missing"} with data.airlock.packages.installable as installable
	codes(inp) == set() with data.airlock.packages.installable as installable with data.airlock.packages.hashes as {"airlock-demo==1.0.0": ["ab"]}
	h := install.granted_hashes with input as inp with data.airlock.packages.installable as installable with data.airlock.packages.hashes as {"airlock-demo==1.0.0": ["ab"]}
	h == {"airlock-demo==1.0.0": ["ab"]}
}

test_granted_install_may_be_imported if {
	inp := object.union(base, {
		"request": object.union(base.request, {"packages": ["airlock-demo==1.0.0"]}),
		"analysis": object.union(base.analysis, {"imports": ["airlock_demo"]}),
	})
	codes(inp) == set() with data.airlock.packages.installable as installable with data.airlock.packages.require_hashes as false
	codes(with_imports(["airlock_demo"])) == {"package_not_allowed"} with data.airlock.packages.installable as installable
}


test_dynamic_code_is_denied_with_the_form if {
	inp := {
		"action": "execution.run",
		"principal": {"subject": "a", "groups": ["analysts"]},
		"request": {"language": "python", "code_bytes": 10, "timeout_seconds": 10},
		"analysis": {"imports": [], "dynamic_imports": 0, "dynamic_code": ["exec of computed text"]},
	}
	vs := execution.violations with input as inp
	some v in vs
	v.code == "dynamic_code_not_allowed"
	contains(v.message, "exec of computed text")
}
