{{/*
The services of the split, as the code defines them (todo_runtime::Service: app id, port; the
roles' use of Dapr components). These are facts of the programs, not settings: an app id or a
component name changed here and not in the code would break the system, so they are not values.
The render test (infra/helm/check) reads the code's own tables and compares.

  appId       Dapr app id (dapr.io/app-id)
  port        the port the app listens on (PORT, dapr.io/app-port)
  binary      the program in the image
  database    which database it writes: tasks (shared by the backend and the recurring-task
              service, the seeds' one exception), audit, notifications, or none
  components  the Dapr components it uses; each component's `scopes` are computed from this
  invokes     app ids it calls through Dapr service invocation (NetworkPolicy)
  connects    app ids whose app port it calls directly, without Dapr (the frontend relays the
              live feed's WebSocket from the sync service: invocation carries no upgrade)
  public      reached from outside the cluster through the Ingress
*/}}
{{- define "todo.services" -}}
backend:
  appId: backend
  port: 8000
  binary: todo-backend
  database: tasks
  components: [kafka-pubsub, statestore]
  invokes: []
recurringTasks:
  appId: recurring-task-service
  port: 8001
  binary: todo-recurring-tasks
  database: tasks
  components: [kafka-pubsub, reminder-cron]
  invokes: []
notifications:
  appId: notification-service
  port: 8002
  binary: todo-notifications
  database: notifications
  components: [kafka-pubsub]
  invokes: []
audit:
  appId: audit-service
  port: 8003
  binary: todo-audit
  database: audit
  components: [kafka-pubsub]
  invokes: []
sync:
  appId: websocket-sync-service
  port: 8004
  binary: todo-sync
  database: ""
  components: [kafka-pubsub-fanout]
  invokes: []
  public: true
frontend:
  appId: frontend
  port: 3000
  binary: todo-frontend
  database: ""
  components: []
  invokes: [backend, audit-service, notification-service]
  connects: [websocket-sync-service]
  public: true
{{- end -}}

{{/* The services that are enabled, as a dict key -> merged facts and values. */}}
{{- define "todo.enabledServices" -}}
{{- $facts := include "todo.services" . | fromYaml -}}
{{- $out := dict -}}
{{- range $key, $fact := $facts -}}
{{- $v := index $.Values.services $key | default dict -}}
{{- if $v.enabled -}}
{{- $_ := set $out $key $fact -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* The app ids that use component $name (its scopes), sorted. Call with (list $ $name). */}}
{{- define "todo.scopes" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $ids := list -}}
{{- range $key, $s := include "todo.enabledServices" $root | fromYaml -}}
{{- if has $name $s.components -}}
{{- $ids = append $ids $s.appId -}}
{{- end -}}
{{- end -}}
{{- toYaml (sortAlpha $ids) -}}
{{- end -}}

{{- define "todo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "todo.fullname" -}}
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

{{/* The name of a service's objects: <fullname>-<app id>. Call with (list $ $appId). */}}
{{- define "todo.serviceName" -}}
{{- printf "%s-%s" (include "todo.fullname" (index . 0)) (index . 1) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "todo.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ include "todo.name" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
{{- end -}}

{{- define "todo.labels" -}}
{{ include "todo.commonLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The labels of one service's objects (common + selector). Call with (list $ $appId). */}}
{{- define "todo.serviceLabels" -}}
{{ include "todo.commonLabels" (index . 0) }}
{{ include "todo.selectorLabels" . }}
{{- end -}}

{{/* Selector labels of one service's pods. Call with (list $ $appId). */}}
{{- define "todo.selectorLabels" -}}
app.kubernetes.io/name: {{ index . 1 }}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
{{- end -}}

{{/* The Dapr Configuration the sidecars load (dapr.io/config). */}}
{{- define "todo.daprConfig" -}}
{{- default (printf "%s-dapr" (include "todo.fullname" .)) .Values.dapr.configName -}}
{{- end -}}

{{/* The image of a service. Call with (list $ $fact). */}}
{{- define "todo.image" -}}
{{- $root := index . 0 -}}
{{- $fact := index . 1 -}}
{{- $img := $root.Values.image -}}
{{- $repo := printf "%s%s" $img.repositoryPrefix $fact.binary -}}
{{- if $img.registry -}}
{{- $repo = printf "%s/%s" $img.registry $repo -}}
{{- end -}}
{{- if $img.digests -}}
{{- with index $img.digests $fact.binary -}}
{{- printf "%s@%s" $repo . -}}
{{- else -}}
{{- printf "%s:%s" $repo (default $root.Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- else -}}
{{- printf "%s:%s" $repo (default $root.Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{/* An env var from a Secret key. Call with (list NAME $ref) where $ref has name and key. */}}
{{- define "todo.secretEnv" -}}
{{- $ref := index . 1 -}}
- name: {{ index . 0 }}
  valueFrom:
    secretKeyRef:
      name: {{ required (printf "a Secret name for %s" (index . 0)) $ref.name }}
      key: {{ required (printf "a Secret key for %s" (index . 0)) $ref.key }}
{{- end -}}

{{/* The Kafka bootstrap address inside the cluster (Strimzi's bootstrap Service). */}}
{{- define "todo.kafkaBootstrap" -}}
{{- printf "%s-kafka-bootstrap.%s.svc:9092" .Values.kafka.strimzi.name .Release.Namespace -}}
{{- end -}}

{{- define "todo.postgresqlHost" -}}
{{- printf "%s-postgresql.%s.svc" (include "todo.fullname" .) .Release.Namespace -}}
{{- end -}}

{{- define "todo.redisHost" -}}
{{- printf "%s-redis.%s.svc:6379" (include "todo.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/* Fails the render when the values ask for something the chart cannot make safely. */}}
{{- define "todo.checks" -}}
{{- if and (not .Values.auth.jwksUrl) (not .Values.auth.jwtSecret.name) -}}
{{- fail "authentication must be on: set auth.jwksUrl or auth.jwtSecret (a Secret reference); every app listens beyond loopback" -}}
{{- end -}}
{{- $fe := .Values.services.frontend -}}
{{- if and $fe.enabled (not $fe.oidc.issuerUrl) -}}
{{- fail "services.frontend.oidc.issuerUrl: the frontend signs users in with an OpenID Connect provider (its development sign-in works on loopback only)" -}}
{{- end -}}
{{- if $fe.enabled -}}
{{- $secure := "^(https://|http://(127\\.0\\.0\\.1|localhost|\\[::1\\])([:/]|$))" -}}
{{- if not (regexMatch $secure $fe.oidc.issuerUrl) -}}
{{- fail "services.frontend.oidc.issuerUrl must be https (http only on a loopback host)" -}}
{{- end -}}
{{- if not (regexMatch $secure (include "todo.publicUrl" .)) -}}
{{- fail "the frontend's public URL must be https for its sign-in: set ingress.tls.secretName, or services.frontend.publicUrl to an https URL (http only on a loopback host)" -}}
{{- end -}}
{{- end -}}
{{- if and $fe.enabled (not $fe.sessionKeySecret.name) -}}
{{- fail "services.frontend.sessionKeySecret.name: the Secret holding the key the frontend's replicas seal session cookies with" -}}
{{- end -}}
{{- if not .Values.secrets.appApiToken.name -}}
{{- fail "secrets.appApiToken.name: the Secret (key `token`) holding the token the sidecars present to their apps" -}}
{{- end -}}
{{- if and .Values.kafka.strimzi.enabled .Values.kafka.external.enabled -}}
{{- fail "kafka.strimzi.enabled and kafka.external.enabled: choose one broker" -}}
{{- end -}}
{{- if not (or .Values.kafka.strimzi.enabled .Values.kafka.external.enabled) -}}
{{- fail "a Kafka is needed: kafka.strimzi.enabled (in-cluster) or kafka.external.enabled (e.g. Redpanda)" -}}
{{- end -}}
{{- if not (has .Values.statestore.type (list "redis" "postgresql")) -}}
{{- fail "statestore.type is redis or postgresql" -}}
{{- end -}}
{{- if and (eq .Values.statestore.type "redis") (not .Values.redis.enabled) (not .Values.statestore.redis.host) -}}
{{- fail "statestore.type redis needs redis.enabled or statestore.redis.host" -}}
{{- end -}}
{{- end -}}

{{/* The URL users reach the frontend at: services.frontend.publicUrl, else the Ingress host. */}}
{{- define "todo.publicUrl" -}}
{{- $fe := .Values.services.frontend -}}
{{- if $fe.publicUrl -}}
{{- trimSuffix "/" $fe.publicUrl -}}
{{- else -}}
{{- printf "%s://%s" (ternary "https" "http" (not (empty .Values.ingress.tls.secretName))) (required "services.frontend.publicUrl or ingress.host" .Values.ingress.host) -}}
{{- end -}}
{{- end -}}
