# shop-web (team payments), prod: TLS certificate of the service's own domain (ACM, DNS-validated) for the shared HTTPS listener.
# Managed by LaunchPad: change it through a LaunchPad request, or the next render undoes the edit.

include "root" {
  path = find_in_parent_folders("root.hcl")
}

terraform {
  source = "tfr:///terraform-aws-modules/acm/aws?version=6.3.0"
}

# The domain's hosted zone (this account's own), where ACM's validation record goes.
dependency "dns" {
  config_path = "../dns"

  mock_outputs = {
    id = "Z00000000000000000000"
  }
  mock_outputs_allowed_terraform_commands = ["validate", "plan"]
}

locals {
  # The request's description, verbatim. AWS tags carry a sanitised copy (AWS limits their characters).
  description = "Storefront of the shop; serves the catalogue and the basket."
  tags = {
    service      = "shop-web"
    team         = "payments"
    environment  = "prod"
    description  = "Storefront of the shop serves the catalogue and the basket."
    requested-by = "U056MNOPQR"
  }
}

inputs = {
  # The shared HTTPS listener's own certificate does not cover this domain: ACM issues one, validated by a
  # DNS record in the domain's zone (held by this account), and the target group attaches it.
  domain_name         = "www.shop.example.com"
  validation_method   = "DNS"
  zone_id             = dependency.dns.outputs.id
  wait_for_validation = true

  tags = local.tags
}
