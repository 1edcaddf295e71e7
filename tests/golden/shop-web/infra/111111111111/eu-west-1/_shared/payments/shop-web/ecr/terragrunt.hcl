# shop-web (team payments), all environments: container image repository.
# Managed by LaunchPad: change it through a LaunchPad request, or the next render undoes the edit.

include "root" {
  path = find_in_parent_folders("root.hcl")
}

terraform {
  source = "tfr:///terraform-aws-modules/ecr/aws?version=3.2.0"
}

locals {
  # The request's description, verbatim. AWS tags carry a sanitised copy (AWS limits their characters).
  description = "Storefront of the shop; serves the catalogue and the basket."
  tags = {
    service      = "shop-web"
    team         = "payments"
    environment  = "shared"
    description  = "Storefront of the shop serves the catalogue and the basket."
    requested-by = "U056MNOPQR"
  }
}

inputs = {
  repository_name = "payments/shop-web"

  # Every environment's account pulls from this one repository; only the CI role pushes (its own policy).
  repository_read_access_arns = [
    "arn:aws:iam::111111111111:root",
    "arn:aws:iam::222222222222:root",
    "arn:aws:iam::333333333333:root",
  ]

  # Tags are immutable (module default) and named after commits. Untagged layers expire after 14 days; of
  # the tagged images the newest 100 stay (platform.ecr_keep_tagged_images), older ones expire.
  repository_lifecycle_policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Expire untagged images after 14 days"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = 14
        }
        action = {
          type = "expire"
        }
      },
      {
        rulePriority = 2
        description  = "Keep the newest 100 tagged images"
        selection = {
          tagStatus      = "tagged"
          tagPatternList = ["*"]
          countType      = "imageCountMoreThan"
          countNumber    = 100
        }
        action = {
          type = "expire"
        }
      },
    ]
  })

  tags = local.tags
}
