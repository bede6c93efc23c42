mock_provider "aws" {
  mock_data "aws_subnet" {
    defaults = {
      availability_zone = "eu-west-1a"
    }
  }
  mock_resource "aws_ebs_volume" {
    defaults = {
      id = "vol-0123456789abcdef0"
    }
  }
  mock_resource "aws_network_interface" {
    defaults = {
      private_ip = "10.40.16.10"
    }
  }
}

variables {
  name                  = "faro-test"
  subnet_id             = "subnet-aaa"
  security_group_id     = "sg-0qdrant00000000000"
  ami_id                = "ami-0123456789abcdef0"
  api_key_parameter_arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/faro/qdrant/api-key"
}

run "hardened_instance" {
  command = apply

  assert {
    condition     = length(aws_instance.qdrant) == 1 && aws_instance.qdrant[0].metadata_options[0].http_tokens == "required"
    error_message = "one instance by default, with IMDSv2 required"
  }

  assert {
    # The instance has only its network interface: in the private subnet, with no public address.
    condition     = aws_network_interface.node[0].subnet_id == "subnet-aaa" && one(aws_instance.qdrant[0].network_interface[*].network_interface_id) == aws_network_interface.node[0].id && aws_instance.qdrant[0].associate_public_ip_address != true
    error_message = "the instance must be in the private subnet without a public IP"
  }

  assert {
    condition     = aws_ebs_volume.data[0].encrypted == true && aws_instance.qdrant[0].root_block_device[0].encrypted == true
    error_message = "data and root volumes must be encrypted"
  }

  assert {
    condition     = aws_volume_attachment.data[0].volume_id == aws_ebs_volume.data[0].id && aws_ebs_volume.data[0].availability_zone == "eu-west-1a"
    error_message = "the data volume must be attached, in the subnet's AZ"
  }

  assert {
    condition     = aws_network_interface.node[0].security_groups == toset(["sg-0qdrant00000000000"])
    error_message = "the instance must use only the Qdrant SG"
  }

  assert {
    condition = jsondecode(aws_iam_role_policy.api_key.policy).Statement == [{
      Sid      = "ReadQdrantApiKey"
      Effect   = "Allow"
      Action   = "ssm:GetParameter"
      Resource = "arn:aws:ssm:eu-west-1:123456789012:parameter/faro/qdrant/api-key"
    }]
    error_message = "the instance role may only ssm:GetParameter the API key parameter"
  }

  assert {
    condition = (
      strcontains(aws_instance.qdrant[0].user_data, "--name \"arn:aws:ssm:eu-west-1:123456789012:parameter/faro/qdrant/api-key\"") &&
      strcontains(aws_instance.qdrant[0].user_data, "--region \"eu-west-1\"") &&
      strcontains(aws_instance.qdrant[0].user_data, "vol0123456789abcdef0") &&
      strcontains(aws_instance.qdrant[0].user_data, "systemctl enable --now qdrant") &&
      strcontains(aws_instance.qdrant[0].user_data, "/v1.12.4/") &&
      !strcontains(aws_instance.qdrant[0].user_data, "QDRANT__CLUSTER__ENABLED")
    )
    error_message = "user data must install and start a single Qdrant with the API key from SSM on the data volume"
  }

  assert {
    condition     = output.private_ip == "10.40.16.10" && output.private_ips == ["10.40.16.10"]
    error_message = "the private IP must be an output"
  }
}

run "cluster_of_three_spread_over_the_peer_subnets" {
  command = apply

  variables {
    node_count      = 3
    peer_subnet_ids = ["subnet-bbb", "subnet-ccc"]
  }

  assert {
    condition     = length(aws_instance.qdrant) == 3 && length(aws_ebs_volume.data) == 3 && length(aws_volume_attachment.data) == 3
    error_message = "three nodes, each with its own data volume"
  }

  assert {
    condition     = aws_network_interface.node[*].subnet_id == ["subnet-aaa", "subnet-bbb", "subnet-ccc"]
    error_message = "node 0 in subnet_id, the others in the peer subnets in turn"
  }

  assert {
    condition     = alltrue([for i in range(3) : aws_volume_attachment.data[i].instance_id == aws_instance.qdrant[i].id && aws_volume_attachment.data[i].volume_id == aws_ebs_volume.data[i].id])
    error_message = "each node's volume must be attached to that node"
  }

  assert {
    # Node 0 starts the cluster at its own address; the others announce theirs and join through node 0's.
    condition = (
      strcontains(aws_instance.qdrant[0].user_data, "QDRANT__CLUSTER__ENABLED=true") &&
      strcontains(aws_instance.qdrant[0].user_data, "--uri \"http://10.40.16.10:6335\"") &&
      !strcontains(aws_instance.qdrant[0].user_data, "--bootstrap") &&
      alltrue([for i in [1, 2] : strcontains(aws_instance.qdrant[i].user_data, "--bootstrap \"http://10.40.16.10:6335\"")])
    )
    error_message = "distributed mode: node 0 bootstraps the cluster, nodes 1 and 2 join through it on 6335"
  }

  assert {
    condition     = length(output.private_ips) == 3
    error_message = "every node's IP must be an output (a Collection's peerAddresses)"
  }
}

run "rejects_non_ssm_arn" {
  command = plan

  variables {
    api_key_parameter_arn = "plain-text-key"
  }

  expect_failures = [var.api_key_parameter_arn]
}

run "rejects_a_node_count_out_of_range" {
  command = plan

  variables {
    node_count = 0
  }

  expect_failures = [var.node_count]
}
