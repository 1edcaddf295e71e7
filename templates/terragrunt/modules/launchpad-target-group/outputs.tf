output "target_group_arn" {
  description = "ARN of the target group (bound to the pods by a TargetGroupBinding)"
  value       = aws_lb_target_group.this.arn
}

output "target_group_name" {
  description = "Name of the target group"
  value       = aws_lb_target_group.this.name
}

output "listener_rule_arn" {
  description = "ARN of the host-header listener rule"
  value       = aws_lb_listener_rule.this.arn
}

output "listener_certificate_id" {
  description = "Listener certificate attachment (listener ARN and certificate ARN), or null"
  value       = try(aws_lb_listener_certificate.this[0].id, null)
}
