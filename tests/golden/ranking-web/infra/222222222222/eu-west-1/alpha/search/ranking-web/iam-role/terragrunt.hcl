# ranking-web (team search), alpha: IAM role of the service's Kubernetes service account (IRSA).
# Managed by LaunchPad: change it through a LaunchPad request, or the next render undoes the edit.

include "root" {
  path = find_in_parent_folders("root.hcl")
}

terraform {
  source = "tfr:///terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts?version=6.5.0"
}

locals {
  # The request's description, verbatim. AWS tags carry a sanitised copy (AWS limits their characters).
  description = "Ranks search results for the storefront. Owner: #search-team — \"ask before changing weights\".\n"
  tags = {
    service      = "ranking-web"
    team         = "search"
    environment  = "alpha"
    description  = "Ranks search results for the storefront. Owner: search-team ask before changing weights ."
    requested-by = "U012ABCDEF"
  }
}

inputs = {
  name            = "alpha-ranking-web-irsa"
  use_name_prefix = false
  description     = "Service account ranking-web of search/ranking-web in alpha"

  # IRSA: only this service account, in this namespace, on this environment's cluster, may assume the role.
  oidc_providers = {
    main = {
      provider_arn = "arn:aws:iam::222222222222:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLEALPHA"
      namespace_service_accounts = [
        "search-alpha:ranking-web",
      ]
    }
  }

  # Access to the service's own data stores, by ARNs derived from their names: this package depends on
  # no other, so it can be removed last when the service goes away.
  permissions = {
    S3ListBucket = {
      actions = [
        "s3:ListBucket",
      ]
      resources = [
        "arn:aws:s3:::example-alpha-ranking-web",
      ]
    }
    S3Objects = {
      actions = [
        "s3:DeleteObject",
        "s3:GetObject",
        "s3:PutObject",
      ]
      resources = [
        "arn:aws:s3:::example-alpha-ranking-web/*",
      ]
    }
  }

  tags = local.tags
}
