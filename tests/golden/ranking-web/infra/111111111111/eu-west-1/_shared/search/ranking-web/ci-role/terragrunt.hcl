# ranking-web (team search), all environments: IAM role the service's GitHub Actions workflow assumes to push images.
# Managed by LaunchPad: change it through a LaunchPad request, or the next render undoes the edit.

include "root" {
  path = find_in_parent_folders("root.hcl")
}

terraform {
  source = "tfr:///terraform-aws-modules/iam/aws//modules/iam-role?version=6.5.0"
}

locals {
  # The request's description, verbatim. AWS tags carry a sanitised copy (AWS limits their characters).
  description = "Ranks search results for the storefront. Owner: #search-team — \"ask before changing weights\".\n"
  tags = {
    service      = "ranking-web"
    team         = "search"
    environment  = "shared"
    description  = "Ranks search results for the storefront. Owner: search-team ask before changing weights ."
    requested-by = "U012ABCDEF"
  }
}

inputs = {
  name            = "ranking-web-ci"
  use_name_prefix = false
  description     = "GitHub Actions of search/ranking-web push images to ECR search/ranking-web"

  # GitHub's OIDC provider must already exist in this account (one per account, owned by the platform).
  # Only workflow runs on the service repository's default branch may assume the role.
  enable_github_oidc = true
  oidc_subjects      = ["repo:search/ranking-web:ref:refs/heads/main"]

  create_inline_policy = true
  inline_policy_permissions = {
    EcrLogin = {
      actions = [
        "ecr:GetAuthorizationToken",
      ]
      resources = [
        "*",
      ]
    }
    EcrPush = {
      actions = [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:CompleteLayerUpload",
        "ecr:DescribeImages",
        "ecr:GetDownloadUrlForLayer",
        "ecr:InitiateLayerUpload",
        "ecr:PutImage",
        "ecr:UploadLayerPart",
      ]
      resources = [
        "arn:aws:ecr:eu-west-1:111111111111:repository/search/ranking-web",
      ]
    }
  }

  tags = local.tags
}
