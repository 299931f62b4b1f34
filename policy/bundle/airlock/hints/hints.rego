# Text for hints, in its own package so it is built only when a violation needs it.
package airlock.hints

allowed_packages := concat(", ", sort(data.airlock.packages.allowed))
