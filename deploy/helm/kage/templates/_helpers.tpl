{{/* The controller's name: Deployment, Service, ServiceAccount, Lease, cluster-wide RBAC.
"kage-controller" for a release named "kage", the name the CLI looks for by default;
fullnameOverride replaces it. */}}
{{- define "kage.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-controller" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The ServiceAccount the controller runs as: serviceAccount.name, else the fullname. */}}
{{- define "kage.serviceAccountName" -}}
{{- default (include "kage.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The labels the Deployment selects its pods by (as in deploy/). */}}
{{- define "kage.selectorLabels" -}}
app.kubernetes.io/name: kage
app.kubernetes.io/component: controller
{{- end -}}

{{/* Labels of every object. */}}
{{- define "kage.labels" -}}
app.kubernetes.io/name: kage
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Annotations of every object, if any. */}}
{{- define "kage.annotations" -}}
{{- with .Values.commonAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
