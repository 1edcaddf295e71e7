# A target group for one service and a host-header rule that forwards to it from an existing listener, and
# (for a domain the listener's own certificate does not cover) the service's certificate on that listener.
#
# Why not terraform-aws-modules/alb: that module creates (and owns) a load balancer. Here the load
# balancer and its HTTPS listener are shared and owned by the platform; each service only adds its own
# target group and listener rule, and removing the service must never touch the load balancer.
# Managed by LaunchPad.

resource "aws_lb_target_group" "this" {
  name        = var.name
  port        = var.port
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = var.vpc_id

  deregistration_delay = var.deregistration_delay

  health_check {
    path                = var.health_check_path
    port                = "traffic-port"
    protocol            = "HTTP"
    matcher             = "200-399"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = var.tags
}

resource "aws_lb_listener_rule" "this" {
  listener_arn = var.listener_arn
  # null lets AWS pick the next free priority; host names never overlap, so the order does not matter.
  priority = var.priority

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }

  condition {
    host_header {
      values = var.host_headers
    }
  }

  tags = var.tags
}

resource "aws_lb_listener_certificate" "this" {
  count = var.certificate_arn == null ? 0 : 1

  listener_arn    = var.listener_arn
  certificate_arn = var.certificate_arn
}
