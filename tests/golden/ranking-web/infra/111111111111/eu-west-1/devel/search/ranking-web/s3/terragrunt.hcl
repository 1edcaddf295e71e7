# ranking-web (team search), devel: S3 bucket.
# Managed by LaunchPad: change it through a LaunchPad request, or the next render undoes the edit.

include "root" {
  path = find_in_parent_folders("root.hcl")
}

terraform {
  source = "tfr:///terraform-aws-modules/s3-bucket/aws?version=5.15.4"
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
  # Public access stays blocked and objects stay owned by the bucket owner (module defaults).
  bucket = "example-devel-ranking-web"

  versioning = {
    enabled = true
  }

  attach_deny_insecure_transport_policy = true
  attach_require_latest_tls_policy      = true

  tags = local.tags
}
