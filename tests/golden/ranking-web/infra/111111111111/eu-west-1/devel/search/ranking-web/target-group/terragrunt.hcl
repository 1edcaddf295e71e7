# ranking-web (team search), devel: target group and host-header rule on the shared load balancer.
# Managed by LaunchPad: change it through a LaunchPad request, or the next render undoes the edit.

include "root" {
  path = find_in_parent_folders("root.hcl")
}

terraform {
  # A local module: the registry's alb module creates a load balancer, and this
  # package only adds a target group and a rule to the shared one.
  source = "${get_repo_root()}/modules/launchpad-target-group"
}

locals {
  # The request's description, verbatim. AWS tags carry a sanitised copy (AWS limits their characters).
  description = "Ranks search results for the storefront. Owner: #search-team — \"ask before changing weights\".\n"
  tags = {
    service      = "ranking-web"
    team         = "search"
    environment  = "devel"
    description  = "Ranks search results for the storefront. Owner: search-team ask before changing weights ."
    requested-by = "U012ABCDEF"
  }
}

inputs = {
  name              = "devel-ranking-web-tg"
  vpc_id            = "vpc-00000000000000000"
  port              = 8081
  health_check_path = "/healthz"

  # A draining pod keeps its in-flight requests this long; the chart's preStop sleep outlasts it.
  deregistration_delay = 30

  # The environment's shared HTTPS listener; the rule forwards this service's host name only.
  listener_arn = "arn:aws:elasticloadbalancing:eu-west-1:111111111111:listener/app/devel-shared/0/0"
  host_headers = ["ranking-web.devel.example.com"]

  tags = local.tags
}
