package airlock.files_test

import data.airlock.files

principal := {"issuer": "i", "subject": "s", "groups": []}

test_known_classification_uploads if {
	count(files.violations) == 0 with input as {"action": "file.upload", "principal": principal, "request": {"classification": "confidential"}}
}

test_default_classification_uploads if {
	count(files.violations) == 0 with input as {"action": "file.upload", "principal": principal, "request": {}}
}

test_unknown_classification_denied if {
	some v in files.violations with input as {"action": "file.upload", "principal": principal, "request": {"classification": "top-secret"}}
	v.code == "unknown_classification"
}

test_restricted_session_download_needs_steward if {
	inp := {"action": "file.download", "principal": principal, "session": {"labels": ["restricted"]}, "request": {}}
	some v in files.violations with input as inp
	v.code == "download_not_allowed"
	steward := object.union(inp, {"principal": object.union(principal, {"groups": ["data-stewards"]})})
	count(files.violations) == 0 with input as steward
}

test_upload_groups_per_classification if {
	inp := {"action": "file.upload", "principal": principal, "request": {"classification": "restricted"}}
	some v in files.violations with input as inp with data.airlock.files.upload_groups as {"restricted": ["data-stewards"]}
	v.code == "classification_not_allowed"
	steward := object.union(inp, {"principal": object.union(principal, {"groups": ["data-stewards"]})})
	count(files.violations) == 0 with input as steward with data.airlock.files.upload_groups as {"restricted": ["data-stewards"]}
}
