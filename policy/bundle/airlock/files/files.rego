# Rules for uploads and downloads of session files.
package airlock.files

import data.airlock.common

classification := object.get(input.request, "classification", "internal")

violations contains v if {
	input.action == "file.upload"
	not classification in data.airlock.files.classifications
	v := common.violation(
		"unknown_classification",
		sprintf("classification %q is not known", [classification]),
		sprintf("use one of: %s", [concat(", ", data.airlock.files.classifications)]),
	)
}

# Some classifications may be uploaded only by certain groups (files.upload_groups).
violations contains v if {
	input.action == "file.upload"
	groups := object.get(object.get(data.airlock.files, "upload_groups", {}), classification, null)
	groups != null
	not common.in_any_group(groups)
	v := common.violation(
		"classification_not_allowed",
		sprintf("you may not upload %q data", [classification]),
		sprintf("ask a member of %s, or upload with a lower classification if that is correct", [concat(", ", groups)]),
	)
}

# A session that holds restricted data lets only data stewards take files out of it.
violations contains v if {
	input.action == "file.download"
	"restricted" in object.get(object.get(input, "session", {}), "labels", [])
	not common.in_any_group(data.airlock.files.restricted_download_groups)
	v := common.violation(
		"download_not_allowed",
		"this session holds restricted data; its files cannot be downloaded by you",
		sprintf("ask a member of %s", [concat(", ", data.airlock.files.restricted_download_groups)]),
	)
}
