{{/* Names and labels shared by every template. */}}
{{- define "airlock.name" -}}airlock{{- end -}}

{{- define "airlock.fullname" -}}
{{- if contains "airlock" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-airlock" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "airlock.selectorLabels" -}}
app.kubernetes.io/name: airlock
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end -}}

{{- define "airlock.labels" -}}
{{ include "airlock.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: airlock
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "airlock.image" -}}
{{- $tag := default .Chart.AppVersion .image.tag -}}
{{- if .image.digest -}}
{{ .image.repository }}@{{ .image.digest }}
{{- else -}}
{{ .image.repository }}:{{ $tag }}
{{- end -}}
{{- end -}}

{{- define "airlock.serviceAccountName" -}}{{ include "airlock.fullname" . }}{{- end -}}

{{/* A map of strings as a TOML inline table. */}}
{{- define "airlock.tomlTable" -}}
{ {{- $first := true -}}
{{- range $k := keys . | sortAlpha -}}
{{- if not $first }}, {{ end -}}{{- $first = false -}}
{{ $k | quote }} = {{ get $ $k | quote }}
{{- end }} }
{{- end -}}
