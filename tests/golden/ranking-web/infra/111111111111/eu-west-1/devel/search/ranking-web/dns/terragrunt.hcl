# ranking-web (team search), devel: DNS record pointing the service's host name at the shared load balancer.
# Managed by LaunchPad: change it through a LaunchPad request, or the next render undoes the edit.

include "root" {
  path = find_in_parent_folders("root.hcl")
}

terraform {
  source = "tfr:///terraform-aws-modules/route53/aws?version=6.4.0"
}

locals {
  # The request's description, verbatim. AWS tags carry a sanitised copy (AWS limits their characters).
  description = "Ranks search results for the storefront. Owner: #search-team — \"ask before changing weights\".\n"
}

inputs = {
  # Look up the existing hosted zone; LaunchPad never creates or deletes zones.
  name         = "devel.example.com"
  create_zone  = false
  private_zone = false

  records = {
    "ranking-web.devel.example.com" = {
      full_name = "ranking-web.devel.example.com"
      type      = "A"
      alias = {
        name                   = "devel-shared-alb.eu-west-1.elb.amazonaws.com"
        zone_id                = "Z32O12XQLNTSW2"
        evaluate_target_health = true
      }
    }
  }
}
