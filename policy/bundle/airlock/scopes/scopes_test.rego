package airlock.scopes_test

import data.airlock.scopes

test_restricted_by_default_and_configurable if {
	scopes.restricted_session with input as {"session": {"labels": ["internal", "restricted"]}}
	not scopes.restricted_session with input as {"session": {"labels": ["confidential"]}}
	scopes.restricted_session with input as {"session": {"labels": ["confidential"]}}
		with data.airlock.data_scopes.no_egress as ["confidential"]
	not scopes.restricted_session with input as {}
}
