package airlock.install_test

import data.airlock.install

test_pins_are_normalised if {
	install.pin("Airlock_Demo==1.0.0") == ["airlock-demo", "1.0.0"]
	not install.pin("airlock-demo")
	not install.pin("==1.0")
}

test_release_segments_compare_numerically if {
	install.release("1.10") > install.release("1.9.9")
	install.release("2") == [2, 0, 0, 0]
	not install.release("1.0rc1")
}

test_ranges if {
	install.satisfies("1.5.0", ">=1.2, <2")
	not install.satisfies("2.0.0", ">=1.2, <2")
	install.satisfies("3.0.0rc1", "3.0.0rc1")
}
