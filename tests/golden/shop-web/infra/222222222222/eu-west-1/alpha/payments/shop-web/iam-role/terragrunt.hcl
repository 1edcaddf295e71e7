# shop-web (team payments), alpha: IAM role of the service's Kubernetes service account (IRSA).
# Managed by LaunchPad: change it through a LaunchPad request, or the next render undoes the edit.

include "root" {
  path = find_in_parent_folders("root.hcl")
}

terraform {
  source = "tfr:///terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts?version=6.5.0"
}

locals {
  # The request's description, verbatim. AWS tags carry a sanitised copy (AWS limits their characters).
  description = "Storefront of the shop; serves the catalogue and the basket."
  tags = {
    service      = "shop-web"
    team         = "payments"
    environment  = "alpha"
    description  = "Storefront of the shop serves the catalogue and the basket."
    requested-by = "U056MNOPQR"
  }
}

inputs = {
  name            = "alpha-shop-web-irsa"
  use_name_prefix = false
  description     = "Service account shop-web of payments/shop-web in alpha"

  # IRSA: only this service account, in this namespace, on this environment's cluster, may assume the role.
  oidc_providers = {
    main = {
      provider_arn = "arn:aws:iam::222222222222:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLEALPHA"
      namespace_service_accounts = [
        "payments-alpha:shop-web",
      ]
    }
  }

  tags = local.tags
}
