{{/*
Names, labels and the parts the web, worker and migration pods share. Values are only ever quoted
or serialised here, never evaluated as templates.
*/}}
{{- define "launchpad.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "launchpad.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "launchpad.selectorLabels" -}}
app.kubernetes.io/name: {{ include "launchpad.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "launchpad.labels" -}}
{{ include "launchpad.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "launchpad.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "launchpad.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "launchpad.image" -}}
{{- $image := printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- with .Values.image.digest }}{{ $image = printf "%s@%s" $image . }}{{ end -}}
{{- $image -}}
{{- end -}}

{{/* Environment every LaunchPad container gets: the settings file and the data directory. */}}
{{- define "launchpad.commonEnv" -}}
- name: LAUNCHPAD_CONFIG_FILE
  value: /etc/launchpad/config.yaml
- name: LAUNCHPAD_DATA_DIR
  value: /var/lib/launchpad
{{- end -}}

{{/* The existing Secret: each key an environment variable (LAUNCHPAD_SLACK_BOT_TOKEN, ...). */}}
{{- define "launchpad.envFrom" -}}
- secretRef:
    name: {{ required "existingSecret: name the Secret that holds LaunchPad's tokens and database URL" .Values.existingSecret }}
{{- end -}}

{{/* Pod-level settings shared by the Deployments and the Job. */}}
{{- define "launchpad.podSpec" -}}
serviceAccountName: {{ include "launchpad.serviceAccountName" . }}
automountServiceAccountToken: false
enableServiceLinks: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "launchpad.volumes" -}}
- name: config
  configMap:
    name: {{ include "launchpad.fullname" . }}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
- name: data
  emptyDir:
    sizeLimit: {{ .Values.dataSizeLimit }}
{{- end -}}

{{- define "launchpad.volumeMounts" -}}
- name: config
  mountPath: /etc/launchpad
  readOnly: true
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /var/lib/launchpad
{{- end -}}
