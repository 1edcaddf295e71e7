# shop-web (team payments), alpha: DNS record pointing the service's host name at the shared load balancer.
# Managed by LaunchPad: change it through a LaunchPad request, or the next render undoes the edit.

include "root" {
  path = find_in_parent_folders("root.hcl")
}

terraform {
  source = "tfr:///terraform-aws-modules/route53/aws?version=6.4.0"
}

locals {
  # The request's description, verbatim. AWS tags carry a sanitised copy (AWS limits their characters).
  description = "Storefront of the shop; serves the catalogue and the basket."
}

inputs = {
  # Look up the existing hosted zone; LaunchPad never creates or deletes zones.
  name         = "alpha.example.com"
  create_zone  = false
  private_zone = false

  records = {
    "shop-web.alpha.example.com" = {
      full_name = "shop-web.alpha.example.com"
      type      = "A"
      alias = {
        name                   = "alpha-shared-alb.eu-west-1.elb.amazonaws.com"
        zone_id                = "Z32O12XQLNTSW2"
        evaluate_target_health = true
      }
    }
  }
}
