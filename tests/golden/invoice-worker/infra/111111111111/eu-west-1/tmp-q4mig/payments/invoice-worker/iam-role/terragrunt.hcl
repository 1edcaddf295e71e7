# invoice-worker (team payments), tmp-q4mig: IAM role of the service's Kubernetes service account (IRSA).
# Temporary environment: LaunchPad removes it when its TTL (48 hours) runs out.
# Managed by LaunchPad: change it through a LaunchPad request, or the next render undoes the edit.

include "root" {
  path = find_in_parent_folders("root.hcl")
}

terraform {
  source = "tfr:///terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts?version=6.5.0"
}

locals {
  # The request's description, verbatim. AWS tags carry a sanitised copy (AWS limits their characters).
  description = "Consumes invoice events; trial run for the Q4 migration."
  tags = {
    service      = "invoice-worker"
    team         = "payments"
    environment  = "tmp-q4mig"
    description  = "Consumes invoice events trial run for the Q4 migration."
    requested-by = "U034GHIJKL"
  }
}

inputs = {
  name            = "tmp-q4mig-invoice-worker-irsa"
  use_name_prefix = false
  description     = "Service account invoice-worker of payments/invoice-worker in tmp-q4mig"

  # IRSA: only this service account, in this namespace, on this environment's cluster, may assume the role.
  oidc_providers = {
    main = {
      provider_arn = "arn:aws:iam::111111111111:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLEDEVEL"
      namespace_service_accounts = [
        "payments-tmp-q4mig:invoice-worker",
      ]
    }
  }

  tags = local.tags
}
