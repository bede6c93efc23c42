mock_provider "aws" {
  mock_resource "aws_launch_template" {
    defaults = {
      id = "lt-0123456789abcdef0"
    }
  }
  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/faro-test"
    }
  }
  mock_resource "aws_eks_cluster" {
    defaults = {
      identity = [{ oidc = [{ issuer = "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC123" }] }]
    }
  }
}

variables {
  cluster_name           = "faro-test"
  private_subnet_ids     = ["subnet-aaa", "subnet-bbb"]
  node_security_group_id = "sg-0nodes00000000000"
}

run "defaults" {
  command = plan

  assert {
    condition     = aws_eks_cluster.this.version == "1.34" && aws_eks_node_group.default.version == "1.34"
    error_message = "Kubernetes version must default to 1.34"
  }

  assert {
    condition     = one(aws_eks_node_group.default.instance_types) == "t3.medium"
    error_message = "node instance type must default to t3.medium"
  }

  assert {
    condition = (
      aws_eks_node_group.default.scaling_config[0].min_size == 2 &&
      aws_eks_node_group.default.scaling_config[0].max_size == 4
    )
    error_message = "node group min/max must come from the variables"
  }

  assert {
    condition     = aws_eks_cluster.this.vpc_config[0].endpoint_public_access == false && aws_eks_cluster.this.vpc_config[0].endpoint_private_access == true
    error_message = "the API endpoint must be private by default"
  }

  assert {
    condition     = aws_launch_template.node.metadata_options[0].http_tokens == "required"
    error_message = "nodes must require IMDSv2"
  }

  assert {
    condition     = aws_launch_template.node.metadata_options[0].http_put_response_hop_limit == 1
    error_message = "pods must not reach the node's metadata service (hop limit 1)"
  }

  assert {
    condition     = one(aws_eks_cluster.this.encryption_config).resources == toset(["secrets"]) && aws_kms_key.secrets.enable_key_rotation
    error_message = "Kubernetes Secrets must be encrypted with the module's rotating KMS key"
  }

  assert {
    condition     = aws_eks_cluster.this.enabled_cluster_log_types == toset(["api", "audit", "authenticator", "controllerManager", "scheduler"])
    error_message = "every control plane log type must be enabled"
  }

  assert {
    condition     = aws_launch_template.node.block_device_mappings[0].ebs[0].encrypted == "true"
    error_message = "node volumes must be encrypted"
  }
}

run "oidc_provider" {
  command = apply

  variables {
    api_access_security_group_ids = ["sg-0bastion000000000"]
  }

  assert {
    condition     = aws_iam_openid_connect_provider.this.url == "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC123"
    error_message = "the OIDC provider must use the cluster's issuer"
  }

  assert {
    condition     = aws_iam_openid_connect_provider.this.client_id_list == toset(["sts.amazonaws.com"])
    error_message = "the OIDC provider audience must be sts.amazonaws.com"
  }

  assert {
    condition     = output.oidc_issuer_url == "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC123"
    error_message = "the issuer must be an output for IRSA"
  }

  assert {
    condition     = contains(aws_launch_template.node.vpc_security_group_ids, "sg-0nodes00000000000") && contains(aws_launch_template.node.vpc_security_group_ids, aws_eks_cluster.this.vpc_config[0].cluster_security_group_id)
    error_message = "nodes must carry both the cluster SG and the Faro node SG"
  }

  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.api_access[0].referenced_security_group_id == "sg-0bastion000000000" &&
      aws_vpc_security_group_ingress_rule.api_access[0].cidr_ipv4 == null &&
      aws_vpc_security_group_ingress_rule.api_access[0].from_port == 443
    )
    error_message = "API access must be granted to the admin SG by ID"
  }
}
