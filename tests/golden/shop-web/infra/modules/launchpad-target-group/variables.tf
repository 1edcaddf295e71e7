variable "name" {
  description = "Target group name (at most 32 characters)"
  type        = string
}

variable "vpc_id" {
  description = "VPC of the pods the target group sends traffic to"
  type        = string
}

variable "port" {
  description = "Container port the pods listen on"
  type        = number
}

variable "health_check_path" {
  description = "HTTP path the load balancer checks on each pod"
  type        = string
  default     = "/healthz"
}

variable "deregistration_delay" {
  description = "Seconds a draining pod keeps receiving in-flight requests"
  type        = number
  default     = 30
}

variable "listener_arn" {
  description = "ARN of the shared load balancer's listener that gets the rule"
  type        = string
}

variable "host_headers" {
  description = "Host names the rule forwards to this target group"
  type        = list(string)
}

variable "certificate_arn" {
  description = "ACM certificate of the service's own domain, added to the listener; null when the listener's default certificate covers it"
  type        = string
  default     = null
}

variable "priority" {
  description = "Rule priority; null lets AWS choose the next free one"
  type        = number
  default     = null
}

variable "tags" {
  description = "Tags for the target group and the rule"
  type        = map(string)
  default     = {}
}
