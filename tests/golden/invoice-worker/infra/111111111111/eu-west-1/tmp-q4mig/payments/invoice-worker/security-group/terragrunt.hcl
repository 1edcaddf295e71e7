# invoice-worker (team payments), tmp-q4mig: security group of the service's pods.
# Temporary environment: LaunchPad removes it when its TTL (48 hours) runs out.
# Managed by LaunchPad: change it through a LaunchPad request, or the next render undoes the edit.

include "root" {
  path = find_in_parent_folders("root.hcl")
}

terraform {
  source = "tfr:///terraform-aws-modules/security-group/aws?version=5.3.1"
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
  name            = "tmp-q4mig-invoice-worker-pods"
  description     = "Pods of payments/invoice-worker in tmp-q4mig"
  vpc_id          = "vpc-00000000000000000"
  use_name_prefix = false

  # Target type ip: the shared ALB sends traffic straight to the pods (nginx sidecar), so only its security
  # group may. The kubelet probes every pod from the nodes' security group, on the probe ports only.
  ingress_with_source_security_group_id = [
    {
      description              = "Kubelet probes from the cluster's nodes (app port)"
      from_port                = 8080
      to_port                  = 8080
      protocol                 = "tcp"
      source_security_group_id = "sg-0000000000000000b"
    },
    {
      description              = "Kubelet probes from the cluster's nodes (nginx sidecar port)"
      from_port                = 8081
      to_port                  = 8081
      protocol                 = "tcp"
      source_security_group_id = "sg-0000000000000000b"
    },
    {
      description              = "Kubelet probes from the cluster's nodes (filebeat sidecar port)"
      from_port                = 9601
      to_port                  = 9601
      protocol                 = "tcp"
      source_security_group_id = "sg-0000000000000000b"
    },
  ]

  egress_rules = ["all-all"]

  tags = local.tags
}
