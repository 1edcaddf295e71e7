# shop-web (team payments), prod: IAM role of the service's Kubernetes service account (IRSA).
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
    environment  = "prod"
    description  = "Storefront of the shop serves the catalogue and the basket."
    requested-by = "U056MNOPQR"
  }
}

inputs = {
  name            = "prod-shop-web-irsa"
  use_name_prefix = false
  description     = "Service account shop-web of payments/shop-web in prod"

  # IRSA: only this service account, in this namespace, on this environment's cluster, may assume the role.
  oidc_providers = {
    main = {
      provider_arn = "arn:aws:iam::333333333333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLEPROD"
      namespace_service_accounts = [
        "payments-prod:shop-web",
      ]
    }
  }

  tags = local.tags
}
