{{/*
Names and labels. Every name comes from the platform block (set by Argo CD from the platform-owned
gitops repository), never from a developer values file, so a values file cannot rename or retarget
an object.
*/}}
{{- define "launchpad.name" -}}
{{- required "platform.service is required: the chart is deployed by the team's ApplicationSet, which sets it" .Values.platform.service -}}
{{- end -}}

{{- define "launchpad.selectorLabels" -}}
app.kubernetes.io/name: {{ include "launchpad.name" . }}
{{- end -}}

{{- define "launchpad.labels" -}}
{{ include "launchpad.selectorLabels" . }}
app.kubernetes.io/part-of: {{ .Values.platform.team }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
launchpad.io/team: {{ .Values.platform.team }}
launchpad.io/environment: {{ .Values.platform.environment }}
{{- end -}}

{{- define "launchpad.image" -}}
{{- $image := printf "%s:%s" .Values.image.repository .Values.image.tag -}}
{{- with .Values.image.digest }}{{ $image = printf "%s@%s" $image . }}{{ end -}}
{{- $image -}}
{{- end -}}

{{- /*
A sidecar's image: the one SRE pinned for this service (platform.sidecarImages, from the gitops file,
set by `launchpad bulk`), else the chart's own default in sidecars.<name>.image. Call with
(list $ "nginx").
*/}}
{{- define "launchpad.sidecarImage" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $pinned := dig "sidecarImages" $name "" $root.Values.platform -}}
{{- $pinned | default (index $root.Values.sidecars $name).image -}}
{{- end -}}

{{- define "launchpad.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{- /*
Seconds every container of a terminating pod keeps running before it gets SIGTERM: longer than the
target group's deregistration delay, so the load balancer has stopped sending requests (and finished the
in-flight ones) before the app stops. 0 without a load balancer in front.
*/}}
{{- define "launchpad.preStopSeconds" -}}
{{- if .Values.platform.targetGroupName -}}
{{- add .Values.pod.deregistrationDelaySeconds .Values.pod.drainMarginSeconds -}}
{{- else -}}
0
{{- end -}}
{{- end -}}

{{- /* A preStop sleep (Kubernetes' own sleep action: no shell or sleep binary needed in the image). */}}
{{- define "launchpad.lifecycle" -}}
{{- $seconds := include "launchpad.preStopSeconds" . | int -}}
{{- if gt $seconds 0 -}}
lifecycle:
  preStop:
    sleep:
      seconds: {{ $seconds }}
{{- end -}}
{{- end -}}

{{- /* The pod condition the AWS Load Balancer Controller sets for the TargetGroupBinding of this service. */}}
{{- define "launchpad.readinessGate" -}}
target-health.elbv2.k8s.aws/{{ include "launchpad.name" . }}
{{- end -}}
