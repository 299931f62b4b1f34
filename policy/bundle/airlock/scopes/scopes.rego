# Data scopes: which data labels mean "no network egress" (data.airlock.data_scopes.no_egress,
# "restricted" by default). Used by airlock.egress and airlock.connectors; a package of its own
# so that decisions needing neither never evaluate it (regorus evaluates a whole package when
# it is first used).
package airlock.scopes

# Written without `default`: regorus evaluates default rules on every decision (about 11,000
# instructions each, docs/performance.md), whether or not the package is used.
no_egress_labels := ["restricted"] if not data.airlock.data_scopes.no_egress

no_egress_labels := data.airlock.data_scopes.no_egress if data.airlock.data_scopes.no_egress

# A session holding data labelled for no egress.
restricted_session if {
	some l in object.get(object.get(input, "session", {}), "labels", [])
	l in no_egress_labels
}
